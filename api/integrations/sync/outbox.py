"""The outbox: ticket events recorded for each enabled connector, and the push jobs that drain it.

``record`` is a triage step (api/triage/pipeline.py): it runs in the transaction that processes the event,
so the event is in the outbox exactly when triage has seen it. Events that came in from a connector
(``meta.sync`` = its name) are not recorded for it: no echo.
"""

from __future__ import annotations

from typing import Any

from api import jobs, sql
from api.db import Conn

Q = sql.load("api.integrations.sync")
TASK, QUEUE = "sync.push", "sync"
PULL = "sync.pull"  # one external ticket, now (api/integrations/glpi/webhooks.py)
# The ticket fields a connector mirrors (api/integrations/glpi/mapping.py).
SYNCED = frozenset({"title", "description", "type", "status", "urgency", "impact", "category_id"})


def lock(connector_id: int, ticket_id: int) -> str:
    """The job lock of one connector's pushes for one ticket: they run one at a time, in order."""
    return f"sync:{connector_id}:{ticket_id}"


def relevant(event: dict[str, Any]) -> bool:
    return event["kind"] in ("created", "commented", "assigned") or bool(SYNCED & set(event.get("after") or {}))


async def defer_push(conn: Conn, *, connector_id: int, ticket_id: int) -> int:
    return await jobs.defer(conn, TASK, queue=QUEUE, lock=lock(connector_id, ticket_id),
                            connector_id=connector_id, ticket_id=ticket_id)


async def record(conn: Conn, *, event: dict[str, Any]) -> list[int]:
    """Records the event for every enabled connector it did not come from; returns the outbox ids."""
    if not relevant(event):
        return []
    origin = (event.get("meta") or {}).get("sync")
    recorded = []
    for connector in await (await conn.execute(Q.list_connectors, {"enabled_only": True})).fetchall():
        if connector["name"] == origin:
            continue
        row = await (await conn.execute(Q.insert_outbox, {
            "connector_id": connector["id"], "ticket_id": event["ticket_id"], "event_id": event["id"]})).fetchone()
        if row is not None:
            recorded.append(int(row["id"]))
            await defer_push(conn, connector_id=connector["id"], ticket_id=event["ticket_id"])
    return recorded


async def redrive(conn: Conn, *, connector_id: int) -> int:
    """Queues a push for every ticket with waiting items and no push job (it gave up or was lost)."""
    stranded = await (await conn.execute(Q.stranded, {"connector_id": connector_id})).fetchall()
    for row in stranded:
        await defer_push(conn, connector_id=row["connector_id"], ticket_id=row["ticket_id"])
    return len(stranded)


async def retry(conn: Conn, *, item_id: int) -> bool:
    """Puts a failed item back in the queue; False when there is no failed item with this id."""
    async with conn.transaction():
        row = await (await conn.execute(Q.retry_item, {"id": item_id})).fetchone()
        if row is None:
            return False
        await defer_push(conn, connector_id=row["connector_id"], ticket_id=row["ticket_id"])
    return True
