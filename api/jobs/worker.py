"""``deskmate worker``: runs the job queue until stopped (SIGINT/SIGTERM finish the running jobs first).

Beside the queue it runs the task modules' long-running parts (``registry.serve``: the e-mail IDLE supervisor),
which stop with it.

Durability: a job is a row in Postgres; a worker marks it 'doing' and sends a heartbeat every
DESKMATE_WORKER_HEARTBEAT_S. When a worker dies (crash, SIGKILL, lost machine), any worker finds its
jobs by the missing heartbeat after DESKMATE_WORKER_STALLED_S and puts them back in the queue, so
they run again. Run as many workers as you like; Postgres locks hand each job to one.

A database restart does not stop the worker: procrastinate's worker stops when its connection (the
LISTEN, a fetch) breaks; this module then waits for the database with backoff and starts it again (the
LISTEN comes back; the jobs that were running are recovered as stalled). When the database stays away
longer than DESKMATE_WORKER_RECONNECT_MAX_S the worker logs why and exits non-zero.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Iterable
from typing import Any

import procrastinate
import psycopg
import psycopg_pool
from procrastinate import exceptions as pq_errors
from psycopg.rows import dict_row

from api import db, jobs, migrate, sql
from api.jobs import registry
from api.settings import Settings

log = logging.getLogger(__name__)
Q = sql.load("api.jobs")


class DatabaseGone(RuntimeError):
    """The database stayed unreachable longer than DESKMATE_WORKER_RECONNECT_MAX_S."""


async def recover_stalled(app: procrastinate.App, settings: Settings) -> list[int]:
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


async def _recover_forever(app: procrastinate.App, settings: Settings) -> None:
    interval = max(min(settings.worker_stalled_s / 2, 30.0), 0.2)
    while True:
        await asyncio.sleep(interval)
        try:
            await recover_stalled(app, settings)
        except (pq_errors.ConnectorException, psycopg.Error, psycopg_pool.PoolTimeout):
            log.warning("stalled-job recovery failed (database unreachable?); retrying")


def _pool(url: str, size: int, **kwargs: Any) -> psycopg_pool.AsyncConnectionPool[Any]:
    # Connections are checked when taken, so a database restart costs no job a dead connection.
    return psycopg_pool.AsyncConnectionPool(url, min_size=1, max_size=size, open=False,
                                            kwargs={"prepare_threshold": 0, **kwargs},
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
    tasks_pool = _pool(url, concurrency + 2, autocommit=True, row_factory=dict_row)
    # procrastinate's: its listener opens its own connections with these settings
    queue_pool = _pool(url, concurrency + 2, application_name="deskmate-worker")
    await tasks_pool.open(wait=True, timeout=30)
    await queue_pool.open(wait=True, timeout=30)
    queue = jobs.open_queue(settings)  # this process's App (tasks of the registry) and settings
    context = {"pool": tasks_pool, "settings": settings}  # what every task gets; domains load the rest
    names = list(queues) if queues else list(jobs.QUEUES)
    options: dict[str, Any] = dict(
        queues=names, concurrency=concurrency, wait=wait, name=name, additional_context=context,
        install_signal_handlers=False, delete_jobs="successful", update_heartbeat_interval=settings.worker_heartbeat_s,
        stalled_worker_timeout=settings.worker_stalled_s, fetch_job_polling_interval=1.0 if wait else 0.1,
    )
    try:
        async with queue.app.open_async(pool=queue_pool):
            await recover_stalled(queue.app, settings)
            if wait:
                await _serve(queue.app, settings, url=url, options=options)
            else:
                await _burst(queue.app, tasks_pool, names, options)
    finally:
        await registry.shutdown()  # what the task modules opened (the workflows' directory connector)
        jobs.close_queue(queue)
        await queue_pool.close()
        await tasks_pool.close()


async def _serve(app: procrastinate.App, settings: Settings, *, url: str, options: dict[str, Any]) -> None:
    """Runs the worker until SIGINT/SIGTERM; restarts it after the database comes back from an outage."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    recovery = asyncio.create_task(_recover_forever(app, settings))
    beside = asyncio.create_task(registry.serve(options["additional_context"], stop))  # e-mail IDLE
    try:
        while not stop.is_set():
            failure = await _run_until_stopped_or_failed(app, options, stop)
            if stop.is_set():
                return
            log.warning("the worker lost the database; reconnecting", extra={"error": failure})
            await _wait_for_database(url, settings, stop)
            if not stop.is_set():
                log.warning("the database is back; the worker starts again")
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        recovery.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await recovery
        stop.set()  # also when the worker gives up on the database
        await _ended(beside)


async def _ended(task: asyncio.Task[None]) -> None:
    """Waits for a part of the worker to end; logs how it failed, if it did."""
    try:
        await task
    except Exception:
        log.exception("a part of the worker failed")


async def _run_until_stopped_or_failed(app: procrastinate.App, options: dict[str, Any], stop: asyncio.Event) -> str:
    """Runs procrastinate's worker until ``stop`` (then lets the running jobs finish) or until it ends by
    itself, which it does only when its database connection broke. Returns what ended it."""
    worker = asyncio.create_task(app.run_worker_async(**options))
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({worker, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if not worker.done():  # asked to stop: procrastinate finishes the running jobs when cancelled
        worker.cancel()
    try:
        await worker
    except asyncio.CancelledError:
        if not stop.is_set():
            raise
        return "stopped"
    except (pq_errors.ConnectorException, psycopg.Error, psycopg_pool.PoolTimeout, OSError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return "the worker stopped (its listener or a side task failed)"


async def _wait_for_database(url: str, settings: Settings, stop: asyncio.Event) -> None:
    """Waits, with exponential backoff, until the database answers; DatabaseGone after the allowed time."""
    deadline = time.monotonic() + settings.worker_reconnect_max_s
    delay = 0.2
    while not stop.is_set():
        try:
            async with await psycopg.AsyncConnection.connect(url, connect_timeout=5, autocommit=True) as conn:
                await conn.execute("SELECT 1")
            return
        except psycopg.OperationalError as exc:
            if time.monotonic() >= deadline:
                log.error("worker: giving up, the database has been unreachable for %.0f s "
                          "(DESKMATE_WORKER_RECONNECT_MAX_S): %s", settings.worker_reconnect_max_s, exc)
                raise DatabaseGone(f"the database has been unreachable for {settings.worker_reconnect_max_s:g} s") \
                    from exc
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=delay)
        delay = min(delay * 2, settings.worker_reconnect_backoff_max_s)


async def _burst(app: procrastinate.App, pool: Any, queues: list[str], options: dict[str, Any]) -> None:
    """Runs until nothing is due. The jobs that jobs queue (or that a job lock held back) are due too;
    stop when a pass leaves the same jobs waiting (they wait on something else, e.g. a stalled lock)."""
    await app.run_worker_async(**options)
    waiting: set[int] = set()
    while (due := await _due(pool, queues)) and due != waiting:
        waiting = due
        await app.run_worker_async(**options)
