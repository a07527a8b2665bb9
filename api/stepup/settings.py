"""Step-up settings: DESKMATE_STEPUP_* (docs/configuration.md, docs/stepup.md)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings

from api.integrations import settings_config


class StepUpSettings(BaseSettings):
    model_config = settings_config("DESKMATE_STEPUP_")

    code_ttl_s: int = Field(default=300, ge=30, le=3600)  # a code expires this long after it was sent
    max_failures: int = Field(default=5, ge=1, le=100)  # wrong codes in a row that lock step-up for the employee
    lock_minutes: float = Field(default=30.0, gt=0, le=7 * 24 * 60)
    per_user: int = Field(default=5, ge=1)  # challenges one employee may start per window
    per_conversation: int = Field(default=3, ge=1)  # challenges one conversation may start per window
    window_s: int = Field(default=900, ge=1)
    proof_max_age_s: int = Field(default=600, ge=1)  # how long a passed check counts for a sensitive step
    key: SecretStr | None = None  # HMAC key of stored codes; default: derived from DESKMATE_SECRET_KEY, or a dev file
    takeover_category: str | None = "accounts"  # category of the takeover ticket, when it exists
