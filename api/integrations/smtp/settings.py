"""SMTP settings: DESKMATE_SMTP_* (docs/configuration.md)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings

from api.integrations import settings_config


class SmtpSettings(BaseSettings):
    model_config = settings_config("DESKMATE_SMTP_")

    host: str | None = None
    port: int = Field(default=587, ge=1, le=65535)
    tls: Literal["none", "starttls", "ssl"] = "starttls"
    user: str | None = None
    password: SecretStr | None = None
    sender: str = Field(default="deskmate@localhost", validation_alias="DESKMATE_SMTP_FROM")
    timeout_s: float = Field(default=15.0, gt=0)
