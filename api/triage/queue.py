"""The producer of triage jobs: ticket changes ask the worker to triage the ticket.

Kept apart from the pipeline so the ticket service can queue triage without importing the steps
(routing, SLA, alerts import the ticket service): this module imports only the queue.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from api import jobs
from api.db import Conn

__all__ = ["for_new_ticket", "processing", "ticket_changed"]

TASK, QUEUE, LOCK_PREFIX = "triage.process_ticket", "triage", "ticket:"

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
    await jobs.defer(conn, TASK, queue=QUEUE, lock=f"{LOCK_PREFIX}{ticket_id}", ticket_id=ticket_id)


def for_new_ticket() -> dict[str, Any]:
    """The triage job of a ticket being created, as parameters of the statement that creates it and queues the job
    in the same round trip (api/tickets/queries.sql ``create_ticket``): the same task, queue and lock as
    ``ticket_changed``; ``triage`` is False when the process's queue was opened with DESKMATE_TRIAGE_ENABLED false.
    """
    return {"triage": _triage_enabled(), "triage_task": TASK, "triage_queue": QUEUE, "triage_lock": LOCK_PREFIX}
