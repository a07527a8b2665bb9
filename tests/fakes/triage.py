"""Helpers for the triage tests (routing, SLA, alerts, jobs): worker settings and a burst worker."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from api.integrations.outbound import OutboundSettings
from api.integrations.webhooks.settings import WebhookSettings
from api.jobs import worker
from api.settings import Settings


def worker_settings(settings: Settings, **overrides: Any) -> Settings:
    """The session's settings for an in-process worker: no backoff, local receivers allowed."""
    return settings.model_copy(update={
        "alerts_backoff_base_s": 0.0, "outbound": OutboundSettings(allow_private=True), "worker_concurrency": 2,
        "webhooks": WebhookSettings(timeout_s=5.0), **overrides})


async def drain(settings: Settings, queues: Iterable[str] | None = None) -> None:
    """Runs the worker until no job in ``queues`` (default: all) is due, as ``deskmate worker --burst``."""
    await worker.run(settings, queues=queues, wait=False)
