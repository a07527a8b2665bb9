"""The producer of CSAT surveys: a resolution asks the worker to survey the requester (once per ticket).

Kept apart from the sending so the ticket service can queue a survey without importing the channels: this module
imports only the queue.
"""

from __future__ import annotations

from api import jobs, sql
from api.db import Conn

__all__ = ["ticket_resolved"]

Q = sql.load("api.csat")


def _enabled() -> bool:
    settings = jobs.current_settings()
    return settings.csat_enabled if settings else True


async def ticket_resolved(conn: Conn, *, ticket_id: int, resolution: str, resolver_id: int) -> int | None:
    """Creates the ticket's survey and queues its sending, in the caller's transaction; the survey's id, or None
    when the ticket has one already (resolved before, reopened since) or DESKMATE_CSAT_ENABLED is off.

    ``resolution`` 'auto' (a verified workflow run) counts as resolved by the bot; anything else by a person.
    """
    if not _enabled():
        return None
    row = await (await conn.execute(Q.create_survey, {
        "ticket_id": ticket_id, "resolved_by": "bot" if resolution == "auto" else "person",
        "resolver_id": resolver_id})).fetchone()
    if row is None:
        return None
    await jobs.defer(conn, "csat.send_survey", queue="csat", lock=f"csat:{row['id']}", survey_id=row["id"])
    return int(row["id"])
