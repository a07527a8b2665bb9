"""Twilio settings: DESKMATE_TWILIO_* (docs/configuration.md)."""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings

from api.integrations import settings_config


class TwilioSettings(BaseSettings):
    model_config = settings_config("DESKMATE_TWILIO_")

    account_sid: str | None = None
    auth_token: SecretStr | None = None
    from_number: str | None = None
    base_url: str | None = None
    # Twilio requests used DESKMATE_WEBHOOK_TIMEOUT_S before they had their own variable; it still applies.
    timeout_s: float = Field(default=10.0, gt=0, validation_alias=AliasChoices(
        "DESKMATE_TWILIO_TIMEOUT_S", "DESKMATE_WEBHOOK_TIMEOUT_S"))

    @property
    def configured(self) -> bool:
        return bool(self.account_sid and self.auth_token and self.from_number)
