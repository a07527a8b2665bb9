"""Slack settings: DESKMATE_SLACK_* (docs/configuration.md, docs/channels.md#slack)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings

from api.integrations import settings_config


class SlackSettings(BaseSettings):
    model_config = settings_config("DESKMATE_SLACK_")

    bot_token: SecretStr | None = None  # xoxb-…, the app's bot token
    signing_secret: SecretStr | None = None  # verifies every request Slack sends (Basic Information page)
    app_token: SecretStr | None = None  # xapp-…: receive events over Socket Mode instead of the Request URLs
    team_id: str | None = None  # the workspace this deployment answers; default: the bot token's (auth.test)
    api_url: str = "https://slack.com/api/"  # Slack's Web API; tests point it at a local fake
    timeout_s: float = Field(default=10.0, gt=0)
    user_cache_ttl_s: float = Field(default=600.0, ge=0)  # how long a Slack user's e-mail address is remembered

    @property
    def configured(self) -> bool:
        return bool(self.bot_token and self.signing_secret)
