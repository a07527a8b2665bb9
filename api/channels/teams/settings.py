"""Microsoft Teams settings: DESKMATE_TEAMS_* (docs/configuration.md, docs/channels.md#microsoft-teams)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode

from api.integrations import settings_config

BOT_FRAMEWORK_OPENID = "https://login.botframework.com/v1/.well-known/openidconfiguration"
BOT_FRAMEWORK_ISSUER = "https://api.botframework.com"
BOT_FRAMEWORK_SCOPE = "https://api.botframework.com/.default"
# Where Teams' Bot Connector lives: replies and notifications go nowhere else.
CONNECTOR_HOSTS = ["*.botframework.com", "smba.trafficmanager.net", "*.teams.microsoft.com"]


class TeamsSettings(BaseSettings):
    model_config = settings_config("DESKMATE_TEAMS_")

    app_id: str | None = None  # the Azure Bot's Microsoft App ID (its Entra app registration's client id)
    client_secret: SecretStr | None = None
    tenant_id: str | None = None  # single-tenant bots: the tenant their app registration lives in
    openid_metadata_url: str = BOT_FRAMEWORK_OPENID
    issuers: Annotated[list[str], NoDecode] = Field(default_factory=lambda: [BOT_FRAMEWORK_ISSUER])
    token_url: str | None = None  # default: login.microsoftonline.com/<tenant_id or botframework.com>/oauth2/v2.0/token
    token_scope: str = BOT_FRAMEWORK_SCOPE
    allowed_tenants: Annotated[list[str], NoDecode] = Field(default_factory=list)  # empty: tenant_id when set, else any tenant
    connector_hosts: Annotated[list[str], NoDecode] = Field(default_factory=lambda: list(CONNECTOR_HOSTS))
    allow_loopback: bool = False  # tests: serviceUrls on 127.0.0.1 (a local fake Bot Connector)
    timeout_s: float = Field(default=10.0, gt=0)
    retries: int = Field(default=3, ge=0, le=10)  # 429 answers waited out (Retry-After) before giving up
    max_retry_after_s: float = Field(default=30.0, ge=0)
    jwks_cooldown_s: float = Field(default=30.0, ge=0)  # an unknown key id refetches the JWKS at most this often
    identity_cache_s: float = Field(default=3600.0, ge=0)  # a Teams user's UPN, looked up once per this long

    @field_validator("issuers", "allowed_tenants", "connector_hosts", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        return [v.strip() for v in value.split(",") if v.strip()] if isinstance(value, str) else value

    @property
    def configured(self) -> bool:
        return bool(self.app_id and self.client_secret and self.client_secret.get_secret_value())

    @property
    def token_endpoint(self) -> str:
        tenant = self.tenant_id or "botframework.com"
        return self.token_url or f"https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token"

    def tenant_allowed(self, tenant: str | None) -> bool:
        allowed = self.allowed_tenants or ([self.tenant_id] if self.tenant_id else [])
        return not allowed or (tenant is not None and tenant.lower() in {t.lower() for t in allowed})
