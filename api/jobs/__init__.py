"""Durable background jobs: the queue (procrastinate on deskmate's own Postgres) and nothing else.

The queue's tables come from ``migrations/0003_jobs.sql`` (procrastinate's schema, applied by our
migrations runner). Jobs are deferred on the caller's connection, so a job exists exactly when the
transaction that asked for it commits:

    async with conn.transaction():
        ... change a ticket ...
        await jobs.ticket_changed(conn, ticket_id=ticket_id)   # committed with the change, or not at all

No procrastinate App exists at import time. ``open_queue(settings)`` makes this process's Queue (the App
with the tasks of ``registry.TASK_MODULES``, and the settings it runs with): the api does so in its
lifespan, ``deskmate worker`` when it starts (api/jobs/worker.py). Deferring needs no App: the job row
is written on the caller's connection.
"""

from __future__ import annotations

import importlib
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import procrastinate
from procrastinate import manager
from procrastinate import tasks as pq_tasks

from api.db import Conn
from api.jobs import registry
from api.settings import Settings

__all__ = ["QUEUES", "Queue", "close_queue", "defer", "make_app", "open_queue", "processing", "ticket_changed"]

QUEUES = ("triage", "alerts", "sla", "retention")
# The ticket whose events this task is processing (api/triage/pipeline.py), per asyncio task.
processing: ContextVar[int | None] = ContextVar("processing", default=None)


@dataclass(frozen=True)
class Queue:
    """This process's job queue: the procrastinate App and the settings its producers and tasks use."""

    app: procrastinate.App
    settings: Settings


# The queues this process opened (api lifespan, worker start), innermost last.
_opened: list[Queue] = []


def make_app(*, connector: procrastinate.PsycopgConnector | None = None) -> procrastinate.App:
    """A procrastinate App with every task of the registry's modules."""
    app = procrastinate.App(connector=connector or procrastinate.PsycopgConnector())
    for module in registry.TASK_MODULES:
        for spec in importlib.import_module(module).TASKS:
            registered = app.task(name=spec.name, queue=spec.queue, pass_context=True,
                                  retry=spec.retry or False)(spec.func)
            if spec.cron:
                app.periodic(cron=spec.cron, periodic_id=spec.name.replace(".", "-"))(registered)
    return app


def open_queue(settings: Settings) -> Queue:
    """Makes this process's queue; ``ticket_changed`` follows its settings until ``close_queue``."""
    queue = Queue(app=make_app(), settings=settings)
    _opened.append(queue)
    return queue


def close_queue(queue: Queue) -> None:
    if queue in _opened:
        _opened.remove(queue)


async def defer(
    conn: Conn, task: str, *, queue: str, lock: str | None = None, queueing_lock: str | None = None,
    schedule_at: datetime | None = None, **kwargs: Any,
) -> int:
    """Queues ``task`` with ``kwargs`` on ``conn`` (inside the caller's transaction); returns the job id.

    ``lock``: jobs sharing it run one at a time, in order. ``queueing_lock``: at most one such job waits
    (procrastinate raises AlreadyEnqueued otherwise).
    """
    deferrer = pq_tasks.configure_task(
        name=task, job_manager=manager.JobManager(procrastinate.PsycopgConnector()), queue=queue, lock=lock,
        queueing_lock=queueing_lock, schedule_at=schedule_at, connection=conn)
    return int(await deferrer.defer_async(**kwargs))


def _triage_enabled() -> bool:
    return _opened[-1].settings.triage_enabled if _opened else True


async def ticket_changed(conn: Conn, *, ticket_id: int) -> None:
    """Asks the worker to triage a ticket's new events (classify, route, SLA, alerts).

    Called by the ticket service in the transaction that wrote the event. Jobs of one ticket share a
    lock, so they run one at a time and in order. Changes triage itself makes while processing the
    ticket queue nothing: its loop reads the ticket's events until none is left. Does nothing when the
    process's queue was opened with DESKMATE_TRIAGE_ENABLED false.
    """
    if not _triage_enabled() or processing.get() == ticket_id:
        return
    await defer(conn, "triage.process_ticket", queue="triage", lock=f"ticket:{ticket_id}", ticket_id=ticket_id)
