"""What admins read about the sync: a connector's status, the conflicts."""

from __future__ import annotations

from api import sql
from api.db import Conn
from api.integrations.sync import connectors
from api.integrations.sync.models import ConnectorStatus, OutboxItem, SyncConflict

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


async def conflicts(conn: Conn, *, ticket: str | None = None, limit: int = 100) -> list[SyncConflict]:
    rows = await (await conn.execute(Q.list_conflicts, {"ticket": ticket, "limit": limit})).fetchall()
    return [SyncConflict(**r) for r in rows]
