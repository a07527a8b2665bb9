"""Durable background jobs: the queue (procrastinate on deskmate's own Postgres) and nothing else.

The queue's tables come from ``migrations/0003_jobs.sql`` (procrastinate's schema, applied by our
migrations runner). Jobs are deferred on the caller's connection, so a job exists exactly when the
transaction that asked for it commits:

    async with conn.transaction():
        ... change a ticket's SLA ...
        await jobs.defer(conn, "sla.check", queue="sla", ticket_id=ticket_id)   # committed with it, or not at all

The producers live with their domain (``api/triage/queue.py`` queues triage for ticket changes); this
package knows no task.

No procrastinate App exists at import time. ``open_queue(settings)`` makes this process's Queue (the App
with the tasks of ``registry.TASK_MODULES``, and the settings it runs with): the api does so in its
lifespan, ``deskmate worker`` when it starts (api/jobs/worker.py). Deferring needs no App: the job row
is written on the caller's connection.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import procrastinate
from procrastinate import manager
from procrastinate import tasks as pq_tasks

from api import sql
from api.db import Conn
from api.jobs import registry
from api.settings import Settings

__all__ = ["QUEUES", "Queue", "close_queue", "current_settings", "defer", "make_app", "open_queue", "release_lock"]

Q = sql.load("api.jobs")
QUEUES = ("triage", "alerts", "sla", "retention", "improve", "workflows", "email", "sync", "csat", "kb",
          "analytics")


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
    """Makes this process's queue; producers follow its settings (``current_settings``) until ``close_queue``."""
    queue = Queue(app=make_app(), settings=settings)
    _opened.append(queue)
    return queue


def close_queue(queue: Queue) -> None:
    """Forgets ``queue`` (the api's lifespan and the worker close theirs when they stop)."""
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


async def release_lock(conn: Conn, *, job_id: int) -> None:
    """Releases the lock of the running job ``job_id`` now, on ``conn`` (inside the caller's transaction), instead
    of when the job ends. For a job whose remaining work needs no lock: the job it deferred under the same lock
    in that transaction can be fetched as soon as it is announced (docs/workflows.md#performance)."""
    await conn.execute(Q.release_lock, {"id": job_id})


def current_settings() -> Settings | None:
    """The settings of the queue this process opened last (None before ``open_queue``)."""
    return _opened[-1].settings if _opened else None
