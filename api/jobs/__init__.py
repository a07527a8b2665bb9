"""Durable background jobs: a procrastinate App on deskmate's own Postgres.

The queue's tables come from ``migrations/0003_jobs.sql`` (procrastinate's schema, applied by our
migrations runner). Jobs are deferred on the caller's connection, so a job exists exactly when the
transaction that asked for it commits:

    async with conn.transaction():
        ... change a ticket ...
        await jobs.ticket_changed(conn, ticket_id=ticket_id)   # committed with the change, or not at all

``deskmate worker`` (api/jobs/worker.py) runs the tasks of api/jobs/tasks.py; it recovers the jobs
of workers that died (no heartbeat) so they run again.
"""

from __future__ import annotations

from contextvars import ContextVar
from datetime import datetime
from typing import Any

import procrastinate

from api.db import Conn
from api.settings import get_settings

__all__ = ["QUEUES", "app", "defer", "processing", "ticket_changed"]

QUEUES = ("triage", "alerts", "sla", "retention")
# The tasks are imported by name only where they run (the worker), so deferring stays cheap.
app = procrastinate.App(connector=procrastinate.PsycopgConnector(), import_paths=["api.jobs.tasks", "api.retention.tasks"])
# The ticket whose events this task is processing (api/jobs/triage.py), per asyncio task.
processing: ContextVar[int | None] = ContextVar("processing", default=None)


async def defer(
    conn: Conn, task: str, *, queue: str, lock: str | None = None, queueing_lock: str | None = None,
    schedule_at: datetime | None = None, **kwargs: Any,
) -> int:
    """Queues ``task`` with ``kwargs`` on ``conn`` (inside the caller's transaction); returns the job id.

    ``lock``: jobs sharing it run one at a time, in order. ``queueing_lock``: at most one such job waits
    (procrastinate raises AlreadyEnqueued otherwise).
    """
    deferrer = app.configure_task(task, queue=queue, lock=lock, queueing_lock=queueing_lock,
                                  schedule_at=schedule_at, connection=conn)
    return int(await deferrer.defer_async(**kwargs))


async def ticket_changed(conn: Conn, *, ticket_id: int) -> None:
    """Asks the worker to triage a ticket's new events (classify, route, SLA, alerts).

    Called by the ticket service in the transaction that wrote the event. Jobs of one ticket share a
    lock, so they run one at a time and in order. Changes triage itself makes while processing the
    ticket queue nothing: its loop reads the ticket's events until none is left. Does nothing when
    DESKMATE_TRIAGE_ENABLED is false.
    """
    if not get_settings().triage_enabled or processing.get() == ticket_id:
        return
    await defer(conn, "triage.process_ticket", queue="triage", lock=f"ticket:{ticket_id}", ticket_id=ticket_id)
