"""Retention: what deskmate forgets, and when (docs/operations.md).

Each purge is one named statement of api/retention/queries.sql with its age setting. :func:`purge` runs
them in order, each in batches of DESKMATE_RETENTION_BATCH_SIZE rows (short transactions, no long
locks), and reports per table how many rows matched and how many went. ``dry_run`` counts only.
The worker runs it every hour (api/retention/tasks.py); ``deskmate purge [--dry-run]`` on demand.
Tickets, their comments and their audit events are never purged, nor anything of an open ticket.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from api import sql
from api.db import Conn
from api.settings import Settings

Q = sql.load("api.retention")

# table -> the age parameters of its purge, from the settings. Order matters: messages before conversations.
AGES: dict[str, Callable[[Settings], dict[str, int]]] = {
    "chat_messages": lambda s: {"days": s.retention_chat_days},
    "chat_conversations": lambda s: {"days": s.retention_chat_days},
    "idempotency_keys": lambda s: {"hours": s.retention_idempotency_hours},
    "kb_answers": lambda s: {"days": s.retention_kb_answers_days},
    "notifications": lambda s: {"days": s.retention_notifications_days},
    "alert_firings": lambda s: {"days": s.retention_alerts_days},
    "procrastinate_jobs": lambda s: {"days": s.retention_jobs_days},
    "channel_inbound": lambda s: {"days": s.retention_channel_inbound_days},
    "rate_limits": lambda s: {},
    "web_sessions": lambda s: {},  # ended sessions (api/web/signin)
    "signin_links": lambda s: {},
}


@dataclass
class Purged:
    table: str
    matched: int = 0
    deleted: int = 0


async def purge(conn: Conn, settings: Settings, *, dry_run: bool = False) -> list[Purged]:
    """Deletes (or with ``dry_run`` counts) what is past its retention, table by table."""
    return [await _purge_table(conn, table, ages(settings), settings.retention_batch_size, dry_run)
            for table, ages in AGES.items()]


async def _purge_table(conn: Conn, table: str, ages: dict[str, Any], batch: int, dry_run: bool) -> Purged:
    done = Purged(table)
    params = ages | {"batch": None if dry_run else batch, "dry_run": dry_run}
    while True:
        row = await (await conn.execute(getattr(Q, table), params)).fetchone()
        assert row is not None
        done.matched += row["matched"]
        done.deleted += row["deleted"]
        if dry_run or row["deleted"] < batch:
            return done
