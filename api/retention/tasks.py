"""The worker's retention task: every hour, purge what is past its retention (api/retention)."""

from __future__ import annotations

import logging

from procrastinate import JobContext

from api import retention
from api.jobs.registry import TaskSpec, task

log = logging.getLogger(__name__)
TASKS: list[TaskSpec] = []


@task(TASKS, name="retention.purge", queue="retention", retry=None, cron="23 * * * *")
async def purge(context: JobContext, timestamp: int) -> dict[str, int]:
    """Deletes old chat transcripts, idempotency keys, knowledge answers, notifications, alert history
    and finished jobs; returns rows deleted per table."""
    rt = context.additional_context
    async with rt["pool"].connection() as conn:
        done = await retention.purge(conn, rt["settings"])
    deleted = {p.table: p.deleted for p in done if p.deleted}
    log.info("retention purge", extra={"deleted": deleted})
    return deleted
