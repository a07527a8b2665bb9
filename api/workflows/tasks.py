"""The engine's job: ``workflows.step`` runs one step of a run (api/workflows/engine.py).

Retries are procrastinate's: the task raises ``RetryStep`` while attempts remain, and ``StepRetry`` reschedules
it after DESKMATE_WORKFLOW_BACKOFF_BASE_S × 2^(attempt − 1) seconds (capped). The last attempt does not raise:
the engine stops the run itself (compensation, ticket to a person), so a run never ends as a failed job only.
"""

from __future__ import annotations

from procrastinate import BaseRetryStrategy, JobContext, RetryDecision
from procrastinate.jobs import Job

from api import jobs
from api.channels.slack import approvals as slack_approvals
from api.channels.teams import approvals as teams_approvals
from api.jobs.registry import TaskSpec, task
from api.workflows import approval_service, approvals, engine
from api.workflows import runtime as runtimes

TASKS: list[TaskSpec] = []


class StepRetry(BaseRetryStrategy):
    """Retries ``RetryStep`` only, with the settings' exponential backoff."""

    def get_retry_decision(self, *, exception: BaseException, job: Job) -> RetryDecision | None:
        if not isinstance(exception, engine.RetryStep):
            return None
        settings = jobs.current_settings()
        base, cap = (settings.workflow_backoff_base_s, settings.workflow_backoff_max_s) if settings else (2.0, 300.0)
        return RetryDecision(retry_in={"seconds": int(min(base * 2 ** job.attempts, cap))})


@task(TASKS, name=engine.TASK, queue=engine.QUEUE, retry=StepRetry())
async def step(context: JobContext, run_id: int, step_id: str) -> str:
    rt = context.additional_context
    assert context.job is not None
    async with rt["pool"].connection() as conn:
        return await engine.run_step(conn, run_id=run_id, step_id=step_id, attempt=context.job.attempts,
                                     settings=rt["settings"], job_id=context.job.id)


@task(TASKS, name=approvals.MAIL_TASK, queue=approvals.QUEUE)
async def approval_mail(context: JobContext, approval_id: int, to: str) -> str:
    """E-mails an approver the request with its signed approve/deny links (api/workflows/approvals.py)."""
    rt = context.additional_context
    async with rt["pool"].connection() as conn:
        return await approval_service.send_mail(conn, rt["settings"], approval_id=approval_id, to=to)


@task(TASKS, name=approvals.SLACK_TASK, queue=approvals.QUEUE)
async def approval_slack(context: JobContext, approval_id: int, to: str) -> str:
    """Sends an approver the request in a Slack DM with Approve and Deny buttons (api/channels/slack/approvals.py)."""
    rt = context.additional_context
    async with rt["pool"].connection() as conn:
        return await slack_approvals.send(conn, rt["settings"], approval_id=approval_id, to=to)


@task(TASKS, name=approvals.TEAMS_TASK, queue=approvals.QUEUE)
async def approval_teams(context: JobContext, approval_id: int, to: str) -> str:
    """Sends an approver the request as an Adaptive Card in their personal Teams chat with the bot, when they have
    one (api/channels/teams/approvals.py)."""
    rt = context.additional_context
    async with rt["pool"].connection() as conn:
        return await teams_approvals.send(conn, rt["settings"], approval_id=approval_id, to=to)


@task(TASKS, name=approvals.TIMEOUT_TASK, queue=approvals.QUEUE)
async def approval_timeout(context: JobContext, approval_id: int) -> str:
    """Runs when an approval request expires (scheduled for then): a pending one queues its step (on_timeout)."""
    rt = context.additional_context
    async with rt["pool"].connection() as conn:
        return await approval_service.wake_expired(conn, approval_id=approval_id)


async def on_shutdown() -> None:
    """The worker stops: close the process's default runtime (its directory connector)."""
    await runtimes.close_default()
