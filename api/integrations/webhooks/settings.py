"""Webhook settings: DESKMATE_WEBHOOK_* (docs/configuration.md)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings

from api.integrations import settings_config


class WebhookSettings(BaseSettings):
    model_config = settings_config("DESKMATE_WEBHOOK_")

    timeout_s: float = Field(default=10.0, gt=0)
