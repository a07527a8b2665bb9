"""The worker's tasks: thin wrappers over the domain services, like route handlers are for HTTP.

Each task takes a connection from the worker's pool (``additional_context``, set up by
api/jobs/worker.py) and delegates. Unexpected errors are retried by procrastinate with exponential
backoff; deliveries manage their own retries (api/alerts/delivery.py) and come here only to run.
"""

from __future__ import annotations

from typing import Any

from procrastinate import JobContext, RetryStrategy

from api.alerts import delivery
from api.jobs import app, triage
from api.routing import service as routing
from api.sla import service as sla

UNEXPECTED = RetryStrategy(max_attempts=8, exponential_wait=2)


def _runtime(context: JobContext) -> dict[str, Any]:
    return context.additional_context


@app.task(name="triage.process_ticket", queue="triage", pass_context=True, retry=UNEXPECTED)
async def process_ticket(context: JobContext, ticket_id: int) -> int:
    rt = _runtime(context)
    async with rt["pool"].connection() as conn:
        return await triage.process_ticket(conn, ticket_id=ticket_id, settings=rt["settings"], embedder=rt["embedder"])


@app.task(name="alerts.deliver", queue="alerts", pass_context=True, retry=UNEXPECTED)
async def deliver(context: JobContext, delivery_id: int) -> str:
    rt = _runtime(context)
    async with rt["pool"].connection() as conn:
        return await delivery.deliver(conn, delivery_id=delivery_id, settings=rt["settings"])


@app.task(name="sla.check", queue="sla", pass_context=True, retry=UNEXPECTED)
async def sla_check(context: JobContext, ticket_id: int, generation: int | None = None) -> list[str]:
    rt = _runtime(context)
    async with rt["pool"].connection() as conn:
        system = await routing.triage_principal(conn)
        return await sla.check(conn, ticket_id=ticket_id, generation=generation, system_id=system.id)


@app.periodic(cron="* * * * *", periodic_id="sla-sweep")
@app.task(name="sla.sweep", queue="sla", pass_context=True)
async def sla_sweep(context: JobContext, timestamp: int) -> int:
    """Every minute: raises warnings and breaches whose timer job was lost (a safety net)."""
    rt = _runtime(context)
    raised = 0
    async with rt["pool"].connection() as conn:
        system = await routing.triage_principal(conn)
        for ticket_id in await sla.overdue(conn):
            raised += len(await sla.check(conn, ticket_id=ticket_id, generation=None, system_id=system.id))
    return raised


@app.periodic(cron="* * * * *", periodic_id="alerts-redrive")
@app.task(name="alerts.redrive", queue="alerts", pass_context=True)
async def alerts_redrive(context: JobContext, timestamp: int) -> int:
    """Every minute: queues again the deliveries whose job failed or was lost (api/alerts/delivery.py)."""
    rt = _runtime(context)
    async with rt["pool"].connection() as conn, conn.transaction():
        return len(await delivery.redrive_stuck(conn, settings=rt["settings"]))
