"""What admins read about the sync (a connector's status) and what agents do with its conflicts."""

from __future__ import annotations

from typing import Any

from api import sql
from api.auth.models import Principal
from api.db import Conn
from api.errors import Conflict, NotFound
from api.integrations.sync import connectors
from api.integrations.sync.models import ConflictResolution, ConnectorStatus, OutboxItem, SyncConflict
from api.tickets import service as tickets
from api.tickets.models import Assignment, Status, TicketUpdate, Transition

Q = sql.load("api.integrations.sync")


async def status(conn: Conn, *, name: str, failed_limit: int = 50) -> ConnectorStatus:
    connector = await connectors.get(conn, name=name)
    stats = await (await conn.execute(Q.queue_stats, {"connector_id": connector.id})).fetchone()
    assert stats is not None
    failed = await (await conn.execute(Q.outbox_items, {"connector_id": connector.id, "status": "failed",
                                                        "limit": failed_limit})).fetchall()
    return ConnectorStatus(name=connector.name, enabled=connector.enabled, queue_depth=stats["depth"],
                           lag_s=float(stats["lag_s"]) if stats["lag_s"] is not None else None,
                           failed=[OutboxItem(**r) for r in failed], last_polled_at=connector.last_polled_at,
                           last_error=connector.last_error, linked_tickets=stats["linked"])


async def conflicts(conn: Conn, *, ticket: str | None = None, open_only: bool = False,
                    limit: int = 100) -> list[SyncConflict]:
    rows = await (await conn.execute(Q.list_conflicts, {"ticket": ticket, "open_only": open_only, "id": None,
                                                        "limit": limit})).fetchall()
    return [SyncConflict(**r) for r in rows]


async def resolve_conflict(conn: Conn, *, conflict_id: int, data: ConflictResolution,
                           principal: Principal) -> SyncConflict:
    """Settles a conflict. ``theirs``: the external value stays (it was applied when the conflict was found).
    ``ours``: deskmate's value is applied again, as ``principal``, through the ticket service (so the change is
    checked, recorded and synced out like any other); nothing is written when the ticket has it already."""
    async with conn.transaction():
        row = await (await conn.execute(Q.lock_conflict, {"id": conflict_id})).fetchone()
        if row is None:
            raise NotFound(f"No sync conflict {conflict_id}.")
        if row["resolved"]:
            raise Conflict(f"Sync conflict {conflict_id} is resolved already.")
        if data.keep == "ours":
            await _apply_ours(conn, principal=principal, ticket_id=row["ticket_id"], field=row["field"],
                              value=row["local_value"])
        await conn.execute(Q.resolve_conflict, {"id": conflict_id, "resolution": data.keep, "user_id": principal.id})
    [resolved] = [SyncConflict(**r) for r in await (await conn.execute(Q.list_conflicts, {
        "ticket": None, "open_only": False, "id": conflict_id, "limit": 1})).fetchall()]
    return resolved


async def _apply_ours(conn: Conn, *, principal: Principal, ticket_id: int, field: str, value: Any) -> None:
    ticket = (await tickets.get_or_raise(conn, principal=principal, ref=ticket_id)).model_dump()
    if ticket.get(field) == value:
        return
    meta = {"reason": "kept deskmate's value in a sync conflict"}
    if field == "status":
        await tickets.transition(conn, principal=principal, ref=ticket_id, meta=meta,
                                 data=Transition(status=Status(value), reason=meta["reason"]))
    elif field in ("assignee_id", "team"):
        await tickets.assign(conn, principal=principal, ref=ticket_id, meta=meta, data=Assignment(
            assignee_id=value if field == "assignee_id" else ticket.get("assignee_id"),
            team=value if field == "team" else ticket.get("team")))
    elif field in TicketUpdate.model_fields:
        await tickets.update(conn, principal=principal, ref=ticket_id, meta=meta, data=TicketUpdate(**{field: value}))
    else:
        raise Conflict(f"deskmate cannot apply its {field} again; resolve this conflict with keep=theirs.")
