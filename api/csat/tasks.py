"""The worker's CSAT task: ask a resolved ticket's requester (api/csat/send.py)."""

from __future__ import annotations

from procrastinate import JobContext

from api.csat import send
from api.jobs.registry import TaskSpec, task

TASKS: list[TaskSpec] = []


@task(TASKS, name="csat.send_survey", queue="csat")
async def send_survey(context: JobContext, survey_id: int) -> str:
    """Sends one survey (retried with backoff while its channel is down); returns its status."""
    rt = context.additional_context
    async with rt["pool"].connection() as conn:
        return await send.send_survey(conn, rt["settings"], survey_id=survey_id)
