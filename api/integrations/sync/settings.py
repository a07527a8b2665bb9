"""Sync settings: DESKMATE_SYNC_* (docs/configuration.md). Per-connector settings live with the connector."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings

from api.integrations import settings_config


class SyncSettings(BaseSettings):
    model_config = settings_config("DESKMATE_SYNC_")

    timeout_s: float = Field(default=15.0, gt=0)             # one request to the external system
    backoff_base_s: float = Field(default=5.0, ge=0)         # a push that failed transiently waits base × 2^attempt …
    backoff_max_s: float = Field(default=600.0, ge=0)        # … at most this long between attempts
    max_attempts: int = Field(default=40, ge=1, le=1000)     # then the job stops; the outbox item stays pending
    page_size: int = Field(default=50, ge=1, le=1000)        # rows per page when reading lists
