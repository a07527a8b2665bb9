"""``deskmate worker``: runs the job queue until stopped (SIGINT/SIGTERM finish the running jobs first).

Durability: a job is a row in Postgres; a worker marks it 'doing' and sends a heartbeat every
DESKMATE_WORKER_HEARTBEAT_S. When a worker dies (crash, SIGKILL, lost machine), any worker finds its
jobs by the missing heartbeat after DESKMATE_WORKER_STALLED_S and puts them back in the queue, so
they run again. Run as many workers as you like; Postgres locks hand each job to one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from typing import Any

import procrastinate
import psycopg_pool
from procrastinate import exceptions as pq_errors

from api import db, migrate, sql
from api.jobs import QUEUES, app
from api.routing.embedding import get_embedder
from api.settings import Settings

log = logging.getLogger(__name__)
Q = sql.load("api.jobs")


async def recover_stalled(settings: Settings) -> list[int]:
    """Puts the jobs of workers without a recent heartbeat back in the queue; returns their ids."""
    recovered = []
    for job in await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=settings.worker_stalled_s):
        try:
            await app.job_manager.retry_job(job)
        except pq_errors.ConnectorException:  # another worker recovered it first, or it just finished
            continue
        assert job.id is not None
        recovered.append(job.id)
    if recovered:
        log.warning("recovered stalled jobs", extra={"jobs": recovered})
    return recovered


async def _recover_forever(settings: Settings) -> None:
    interval = max(min(settings.worker_stalled_s / 2, 30.0), 0.2)
    while True:
        await asyncio.sleep(interval)
        try:
            await recover_stalled(settings)
        except pq_errors.ConnectorException:
            log.exception("stalled-job recovery failed; retrying")


def _queue_pool(url: str, size: int) -> psycopg_pool.AsyncConnectionPool[Any]:
    # procrastinate's own connections: its listener opens extra ones with autocommit itself.
    return psycopg_pool.AsyncConnectionPool(url, min_size=1, max_size=size, open=False,
                                            kwargs={"prepare_threshold": 0},
                                            check=psycopg_pool.AsyncConnectionPool.check_connection)


async def _due(pool: Any, queues: list[str]) -> set[int]:
    """The ids of jobs waiting in ``queues`` whose time has come."""
    async with pool.connection() as conn:
        return {r["id"] for r in await (await conn.execute(Q.due_jobs, {"queues": queues})).fetchall()}


async def run(settings: Settings, *, queues: Iterable[str] | None = None, concurrency: int | None = None,
              wait: bool = True, name: str | None = None) -> None:
    """Runs the worker. ``wait=False``: process what is due now, then return (tests, one-off runs)."""
    url = await asyncio.to_thread(db.database_url, settings)
    if settings.auto_migrate:
        await asyncio.to_thread(migrate.migrate, url, settings.migrations_dir)
    concurrency = concurrency or settings.worker_concurrency
    tasks_pool = db.make_pool(url, min_size=1, max_size=concurrency + 2)
    queue_pool = _queue_pool(url, concurrency + 2)
    await tasks_pool.open(wait=True, timeout=30)
    await queue_pool.open(wait=True, timeout=30)
    context = {"pool": tasks_pool, "settings": settings, "embedder": get_embedder()}
    try:  # a fresh connector per run: procrastinate keeps an externally given pool after closing
        with app.replace_connector(procrastinate.PsycopgConnector()):
            await _work(settings, queue_pool=queue_pool, context=context, queues=queues, concurrency=concurrency,
                        wait=wait, name=name)
    finally:
        await queue_pool.close()
        await tasks_pool.close()


async def _work(settings: Settings, *, queue_pool: Any, context: dict[str, Any], queues: Iterable[str] | None,
                concurrency: int, wait: bool, name: str | None) -> None:
    names = list(queues) if queues else list(QUEUES)
    options: dict[str, Any] = dict(
        queues=names, concurrency=concurrency, wait=wait, name=name, additional_context=context,
        install_signal_handlers=wait, delete_jobs="successful", update_heartbeat_interval=settings.worker_heartbeat_s,
        stalled_worker_timeout=settings.worker_stalled_s, fetch_job_polling_interval=1.0 if wait else 0.1,
    )
    async with app.open_async(pool=queue_pool):
        await recover_stalled(settings)
        if not wait:
            await _burst(context["pool"], names, options)
            return
        recovery = asyncio.create_task(_recover_forever(settings))
        try:
            await app.run_worker_async(**options)
        finally:
            recovery.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await recovery


async def _burst(pool: Any, queues: list[str], options: dict[str, Any]) -> None:
    """Runs until nothing is due. The jobs that jobs queue (or that a job lock held back) are due too;
    stop when a pass leaves the same jobs waiting (they wait on something else, e.g. a stalled lock)."""
    await app.run_worker_async(**options)
    waiting: set[int] = set()
    while (due := await _due(pool, queues)) and due != waiting:
        waiting = due
        await app.run_worker_async(**options)
