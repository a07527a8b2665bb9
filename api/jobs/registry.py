"""The task registry: which modules hold tasks, and how a task is declared there.

Tasks live with their domain (``api/triage/tasks.py``); a module declares its tasks with ``task()``
into a module-level ``TASKS`` list, and ``api.jobs.make_app`` registers every listed module's tasks
on the App it makes. No App exists at import time. A task module may define ``async def on_shutdown()``
to close what its tasks opened (the workflows' directory connector); the worker calls it when it stops. It may
define ``async def serve(context, stop)``: a long-running part of the worker (the e-mail IDLE supervisor) that
``deskmate worker`` runs beside the queue, with the tasks' context, until the ``stop`` event is set.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from procrastinate import BaseRetryStrategy, RetryStrategy

# Modules whose TASKS the worker runs (imported when an App is made).
TASK_MODULES = ("api.triage.tasks", "api.retention.tasks", "api.improve.tasks", "api.workflows.tasks",
                "api.channels.email.tasks",
                "api.integrations.sync.tasks", "api.csat.tasks", "api.kb.tasks", "api.analytics.tasks")
# Unexpected errors: retried with exponential backoff (2, 4, 8 … s), then the job fails.
UNEXPECTED = RetryStrategy(max_attempts=8, exponential_wait=2)
TaskFn = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class TaskSpec:
    func: TaskFn
    name: str
    queue: str
    retry: BaseRetryStrategy | None = None
    cron: str | None = None  # periodic: run on this schedule


def task(into: list[TaskSpec], *, name: str, queue: str, retry: BaseRetryStrategy | None = UNEXPECTED,
         cron: str | None = None) -> Callable[[TaskFn], TaskFn]:
    """Declares ``func`` as the task ``name`` (appended to the module's ``into`` list)."""
    def declare(func: TaskFn) -> TaskFn:
        into.append(TaskSpec(func=func, name=name, queue=queue, retry=retry, cron=cron))
        return func
    return declare


async def shutdown() -> None:
    """Calls ``on_shutdown()`` of every task module this process has imported."""
    for name in TASK_MODULES:
        hook = getattr(sys.modules.get(name), "on_shutdown", None)
        if hook is not None:
            await hook()


async def serve(context: dict[str, Any], stop: asyncio.Event) -> None:
    """Runs ``serve(context, stop)`` of every task module this process has imported that has one, until ``stop``."""
    hooks = [getattr(sys.modules.get(name), "serve", None) for name in TASK_MODULES]
    await asyncio.gather(*(hook(context, stop) for hook in hooks if hook is not None))
