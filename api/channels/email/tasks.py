"""The worker's e-mail tasks: read every enabled mailbox each minute, and answer an inbound message; and, beside
them while the worker serves, the IDLE supervisor (idle.py) that reads a mailbox as soon as mail arrives."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from procrastinate import JobContext

from api.channels.email import idle, ingest, outbound
from api.jobs.registry import TaskSpec, task

log = logging.getLogger(__name__)
TASKS: list[TaskSpec] = []


@task(TASKS, name="email.poll", queue="email", retry=None, cron="* * * * *")
async def poll(context: JobContext, timestamp: int) -> dict[str, dict[str, int]]:
    """Reads the new mail of every enabled mailbox; returns the outcomes per mailbox."""
    rt = context.additional_context
    async with rt["pool"].connection() as conn:
        results = await ingest.poll_all(conn, rt["settings"])
    return {r.mailbox: r.outcomes | ({"error": 1} if r.error else {}) for r in results}


@task(TASKS, name="email.answer", queue="email")
async def answer(context: JobContext, message_row: int, kind: str) -> str | None:
    """Sends the acknowledgement or the unknown-sender answer to one inbound message (retried on failure)."""
    rt = context.additional_context
    async with rt["pool"].connection() as conn:
        return await outbound.answer(conn, rt["settings"], message_row=message_row,
                                     kind="ack" if kind == "ack" else "reject")


async def serve(context: dict[str, Any], stop: asyncio.Event) -> None:
    """The IDLE supervisor, until ``stop`` (nothing when DESKMATE_EMAIL_IDLE is false)."""
    if context["settings"].email.idle:
        await idle.Supervisor(context["pool"], context["settings"]).run(stop)
