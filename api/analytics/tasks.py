"""The analytics job, on its own queue ``analytics``: keeping the rollups up to date (api/analytics/rollups.py).
Listed in api/jobs/registry.py."""

from __future__ import annotations

from procrastinate import JobContext

from api.analytics import rollups
from api.jobs.registry import TaskSpec, task

TASKS: list[TaskSpec] = []


@task(TASKS, name="analytics.refresh", queue="analytics", retry=None, cron="*/15 * * * *")
async def refresh(context: JobContext, timestamp: int) -> int:
    """Every 15 minutes: rolls up the tickets created or changed since the last run; returns how many."""
    async with context.additional_context["pool"].connection() as conn:
        return (await rollups.refresh(conn))["tickets"]
