"""Signing in to the web pages: DESKMATE_OIDC_* and DESKMATE_WEB_* (docs/configuration.md, docs/console.md)."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings

from api.integrations import settings_config

LOOPBACK = ("127.0.0.1", "localhost", "::1")


class OidcSettings(BaseSettings):
    """One OpenID Connect provider (Entra ID, Okta, Google, Keycloak …): authorization code flow with PKCE."""

    model_config = settings_config("DESKMATE_OIDC_")

    issuer: str | None = None  # exactly the id token's "iss"; discovery is <issuer>/.well-known/openid-configuration
    discovery_url: str | None = None  # only when the provider's discovery document lives elsewhere
    client_id: str | None = None
    client_secret: SecretStr | None = None
    scopes: str = "openid email profile"
    email_claim: str = "email"  # Entra ID without the optional "email" claim: preferred_username
    button_label: str = "Sign in with your company account"
    timeout_s: float = Field(default=10.0, gt=0)

    @field_validator("issuer", "discovery_url")
    @classmethod
    def _https(cls, value: str | None) -> str | None:
        """The provider's keys and tokens come over HTTPS (plain http only on this machine, for tests)."""
        if value is not None and urlsplit(value).scheme != "https" and urlsplit(value).hostname not in LOOPBACK:
            raise ValueError(f"{value} must be an https:// URL")
        return value

    @property
    def configured(self) -> bool:
        return bool(self.issuer and self.client_id)

    @property
    def metadata_url(self) -> str:
        return self.discovery_url or f"{(self.issuer or '').rstrip('/')}/.well-known/openid-configuration"


class WebSettings(BaseSettings):
    """Sessions of the web pages and the e-mailed sign-in links."""

    model_config = settings_config("DESKMATE_WEB_")

    session_idle_minutes: int = Field(default=60, ge=1, le=7 * 24 * 60)  # signed out after this long unused
    session_max_hours: int = Field(default=12, ge=1, le=30 * 24)  # signed out this long after signing in, always
    signin_link_minutes: int = Field(default=15, ge=1, le=24 * 60)  # an e-mailed link works this long, once
    signin_links_per_hour: int = Field(default=5, ge=1)  # link requests for one e-mail address
    signin_links_per_address_per_hour: int = Field(default=30, ge=1)  # link requests from one client address
