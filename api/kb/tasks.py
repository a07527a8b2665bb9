"""The knowledge base's job, on its own queue ``kb``: embedding resolved tickets for "similar resolved tickets"
(api/kb/similar.py). Listed in api/jobs/registry.py."""

from __future__ import annotations

from procrastinate import JobContext

import kb_index
from api.jobs.registry import TaskSpec, task
from api.kb import embedding, similar
from api.kb.service import Kb

TASKS: list[TaskSpec] = []


@task(TASKS, name="kb.embed_resolved", queue="kb", retry=None, cron="*/10 * * * *")
async def embed_resolved(context: JobContext, timestamp: int) -> int:
    """Every 10 minutes: embeds the resolved and closed tickets without a vector of their current text."""
    rt = context.additional_context
    kb = Kb(embedder=embedding.get_kb_embedder(rt["settings"]), llm=None, settings=rt["settings"])
    async with rt["pool"].connection() as conn:
        await kb_index.register(conn)
        return await similar.embed_resolved(conn, kb)
