"""The producer of CSAT surveys: a resolution asks the worker to survey the requester (once per ticket).

Kept apart from the sending so the ticket service can queue a survey without importing the channels: this module
imports only the queue.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from api import jobs, sql
from api.db import Conn

__all__ = ["ticket_resolved"]

Q = sql.load("api.csat")


def _plan() -> tuple[bool, float]:
    """Whether to ask, and how many seconds after the resolution (DESKMATE_CSAT_ENABLED, DESKMATE_CSAT_DELAY_S)."""
    settings = jobs.current_settings()
    return (settings.csat_enabled, settings.csat_delay_s) if settings else (True, 60.0)


async def ticket_resolved(conn: Conn, *, ticket_id: int, resolution: str, resolver_id: int) -> int | None:
    """Creates the ticket's survey and queues its sending DESKMATE_CSAT_DELAY_S later, in the caller's transaction
    (so the resolution's own update reaches the requester first); the survey's id, or None when the ticket was asked
    before (resolved, reopened since) or DESKMATE_CSAT_ENABLED is off.

    ``resolution`` 'auto' (a verified workflow run) counts as resolved by the bot; anything else by a person.
    """
    enabled, delay_s = _plan()
    if not enabled:
        return None
    row = await (await conn.execute(Q.create_survey, {
        "ticket_id": ticket_id, "resolved_by": "bot" if resolution == "auto" else "person",
        "resolver_id": resolver_id})).fetchone()
    if row is None:
        return None
    at = datetime.now(UTC) + timedelta(seconds=delay_s) if delay_s else None
    await jobs.defer(conn, "csat.send_survey", queue="csat", lock=f"csat:{row['id']}", schedule_at=at,
                     survey_id=row["id"])
    return int(row["id"])
