"""The worker's tasks: thin wrappers over the domain services, like route handlers are for HTTP.

Each task takes a connection from the worker's pool and the settings (``additional_context``, set up by
api/jobs/worker.py) and delegates; what else a task needs it loads itself (the embedder: api/kb/embedding.py). Unexpected errors are retried by procrastinate with exponential
backoff (api.jobs.registry.UNEXPECTED); deliveries manage their own retries (api/alerts/delivery.py)
and come here only to run. Listed in api/jobs/registry.py.
"""

from __future__ import annotations

from typing import Any

from procrastinate import JobContext

from api.alerts import delivery
from api.jobs.registry import TaskSpec, task
from api.kb import embedding
from api.routing import engine
from api.sla import clock
from api.triage import pipeline

TASKS: list[TaskSpec] = []


def _runtime(context: JobContext) -> dict[str, Any]:
    return context.additional_context


@task(TASKS, name="triage.process_ticket", queue="triage")
async def process_ticket(context: JobContext, ticket_id: int) -> int:
    rt = _runtime(context)
    async with rt["pool"].connection() as conn:
        return await pipeline.process_ticket(conn, ticket_id=ticket_id, settings=rt["settings"],
                                             embedder=embedding.get_embedder(rt["settings"]))


@task(TASKS, name="alerts.deliver", queue="alerts")
async def deliver(context: JobContext, delivery_id: int) -> str:
    """Alert delivery (the logic and its retries: api/alerts/delivery.py)."""
    rt = _runtime(context)
    async with rt["pool"].connection() as conn:
        return await delivery.deliver(conn, delivery_id=delivery_id, settings=rt["settings"])


@task(TASKS, name="sla.check", queue="sla")
async def sla_check(context: JobContext, ticket_id: int, generation: int | None = None) -> list[str]:
    rt = _runtime(context)
    async with rt["pool"].connection() as conn:
        system = await engine.triage_principal(conn)
        return await clock.check(conn, ticket_id=ticket_id, generation=generation, system_id=system.id)


@task(TASKS, name="sla.sweep", queue="sla", retry=None, cron="* * * * *")
async def sla_sweep(context: JobContext, timestamp: int) -> int:
    """Every minute: raises warnings and breaches whose timer job was lost (a safety net)."""
    rt = _runtime(context)
    raised = 0
    async with rt["pool"].connection() as conn:
        system = await engine.triage_principal(conn)
        for ticket_id in await clock.overdue(conn):
            raised += len(await clock.check(conn, ticket_id=ticket_id, generation=None, system_id=system.id))
    return raised


@task(TASKS, name="alerts.redrive", queue="alerts", retry=None, cron="* * * * *")
async def alerts_redrive(context: JobContext, timestamp: int) -> int:
    """Every minute: queues again the deliveries whose job failed or was lost (api/alerts/delivery.py)."""
    rt = _runtime(context)
    async with rt["pool"].connection() as conn, conn.transaction():
        return len(await delivery.redrive_stuck(conn, settings=rt["settings"]))
