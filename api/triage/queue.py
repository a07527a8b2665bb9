"""The producer of triage jobs: ticket changes ask the worker to triage the ticket.

Kept apart from the pipeline so the ticket service can queue triage without importing the steps
(routing, SLA, alerts import the ticket service): this module imports only the queue.
"""

from __future__ import annotations

from contextvars import ContextVar

from api import jobs
from api.db import Conn

__all__ = ["processing", "ticket_changed"]

# The ticket whose events this task is processing (api/triage/pipeline.py), per asyncio task.
processing: ContextVar[int | None] = ContextVar("processing", default=None)


def _triage_enabled() -> bool:
    settings = jobs.current_settings()
    return settings.triage_enabled if settings else True


async def ticket_changed(conn: Conn, *, ticket_id: int) -> None:
    """Asks the worker to triage a ticket's new events (classify, route, SLA, alerts).

    Called by the ticket service in the transaction that wrote the event. Jobs of one ticket share a
    lock, so they run one at a time and in order. Changes triage itself makes while processing the
    ticket queue nothing: its loop reads the ticket's events until none is left. Does nothing when the
    process's queue was opened with DESKMATE_TRIAGE_ENABLED false.
    """
    if not _triage_enabled() or processing.get() == ticket_id:
        return
    await jobs.defer(conn, "triage.process_ticket", queue="triage", lock=f"ticket:{ticket_id}",
                     ticket_id=ticket_id)
