"""The closed loop's jobs, on their own queue ``improve``: the daily clustering pass and the candidate training.

Trainings run one at a time (one procrastinate lock, and at most one waiting: a queueing lock); the training
itself is a ``rasa train`` subprocess, so the worker's other jobs keep running beside it.
"""

from __future__ import annotations

import logging
from typing import Any

from procrastinate import JobContext
from procrastinate.exceptions import AlreadyEnqueued

import kb_index
from api import jobs
from api.db import Conn
from api.errors import Conflict
from api.improve import proposals, service
from api.jobs.registry import TaskSpec, task
from api.kb import embedding

log = logging.getLogger(__name__)
TASKS: list[TaskSpec] = []
QUEUE = "improve"
TRAIN_LOCK = "improve-train"


@task(TASKS, name="improve.cluster", queue=QUEUE, retry=None, cron="17 3 * * *")
async def cluster_daily(context: JobContext, timestamp: int) -> dict[str, Any]:
    """Every night: clusters the day's failed conversations into proposals."""
    rt = context.additional_context
    async with rt["pool"].connection() as conn:
        await kb_index.register(conn)
        summary = await proposals.cluster(conn, rt["settings"], embedding.get_embedder(rt["settings"]))
    log.info("improve: clustered failed conversations", extra=summary.model_dump(mode="json"))
    return summary.model_dump(mode="json")


@task(TASKS, name="improve.train", queue=QUEUE, retry=None)
async def train(context: JobContext, requested_by: int | None = None) -> dict[str, Any]:
    """Trains a candidate on the approved examples; promotes it when the eval sets don't get worse."""
    rt = context.additional_context
    async with rt["pool"].connection() as conn:
        record = await service.train_candidate(conn, rt["settings"], requested_by=requested_by)
    return {"version": record.version, "status": record.status, "decision": record.decision}


async def queue_training(conn: Conn, *, requested_by: int | None) -> int:
    """Queues a training; Conflict when one is already waiting."""
    try:
        return await jobs.defer(conn, "improve.train", queue=QUEUE, lock=TRAIN_LOCK, queueing_lock=TRAIN_LOCK,
                                requested_by=requested_by)
    except AlreadyEnqueued as exc:
        raise Conflict("A training is already queued; it will include every example approved until it starts.") \
            from exc
