"""The sync jobs: ``sync.push`` (one connector, one ticket), ``sync.poll`` (one connector), ``sync.pull`` (one
external ticket, queued by a webhook), ``sync.tick`` (every minute:
queues the polls that are due). Listed in api/jobs/registry.py.

``sync.push`` is retried by ``PushRetry`` while the external system fails transiently: after
DESKMATE_SYNC_BACKOFF_BASE_S × 2^attempt seconds (capped by DESKMATE_SYNC_BACKOFF_MAX_S), at most
DESKMATE_SYNC_MAX_ATTEMPTS times; the items stay in the outbox either way, and the poll queues a new push
for tickets whose job gave up (api/integrations/sync/outbox.py ``redrive``).
"""

from __future__ import annotations

from procrastinate import BaseRetryStrategy, JobContext, RetryDecision
from procrastinate.exceptions import AlreadyEnqueued
from procrastinate.jobs import Job

from api import jobs, sql
from api.errors import IntegrationError, NotFound
from api.integrations.sync import engine, outbox
from api.jobs.registry import UNEXPECTED, TaskSpec, task

TASKS: list[TaskSpec] = []
Q = sql.load("api.integrations.sync")


class PushRetry(BaseRetryStrategy):
    """Transient external failures: exponential backoff from the settings; a connector or ticket that is gone (removed
    since the job was queued): no retry, it won't come back; anything else: UNEXPECTED's rule."""

    def get_retry_decision(self, *, exception: BaseException, job: Job) -> RetryDecision | None:
        if isinstance(exception, NotFound):
            return None
        if not isinstance(exception, IntegrationError):
            return UNEXPECTED.get_retry_decision(exception=exception, job=job)
        settings = jobs.current_settings()
        if exception.permanent or (settings and job.attempts + 1 >= settings.sync.max_attempts):
            return None
        base, cap = (settings.sync.backoff_base_s, settings.sync.backoff_max_s) if settings else (5.0, 600.0)
        return RetryDecision(retry_in={"seconds": int(min(base * 2 ** job.attempts, cap))})


@task(TASKS, name=outbox.TASK, queue=outbox.QUEUE, retry=PushRetry())
async def push(context: JobContext, connector_id: int, ticket_id: int) -> int:
    rt = context.additional_context
    async with rt["pool"].connection() as conn:
        return await engine.push_ticket(conn, connector_id=connector_id, ticket_id=ticket_id, settings=rt["settings"])


@task(TASKS, name="sync.poll", queue=outbox.QUEUE, retry=None)
async def poll(context: JobContext, connector_id: int) -> int:
    rt = context.additional_context
    async with rt["pool"].connection() as conn:
        return (await engine.poll(conn, connector_id=connector_id, settings=rt["settings"])).pulled


@task(TASKS, name=outbox.PULL, queue=outbox.QUEUE, retry=PushRetry())
async def pull(context: JobContext, connector_id: int, external_id: str) -> int:
    """One external ticket, now (queued by a verified GLPI webhook: api/integrations/glpi/webhooks.py)."""
    rt = context.additional_context
    async with rt["pool"].connection() as conn:
        return (await engine.pull_external(conn, connector_id=connector_id, external_id=external_id,
                                           settings=rt["settings"])).pulled


@task(TASKS, name="sync.tick", queue=outbox.QUEUE, retry=None, cron="* * * * *")
async def tick(context: JobContext, timestamp: int) -> int:
    """Every minute: queues a poll for each enabled connector whose poll interval has passed."""
    rt = context.additional_context
    queued = 0
    async with rt["pool"].connection() as conn:
        for row in await (await conn.execute(Q.due_polls)).fetchall():
            try:
                await jobs.defer(conn, "sync.poll", queue=outbox.QUEUE, queueing_lock=f"sync-poll:{row['id']}",
                                 connector_id=row["id"])
                queued += 1
            except AlreadyEnqueued:
                continue
    return queued
