"""Sync API shapes: connectors (secrets write-only), their status, outbox items, conflicts."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, SecretStr, StringConstraints, Tag, model_validator

from api.integrations.glpi.mapping import GlpiConfig
from api.integrations.solman.mapping import SolmanSyncConfig

ConnectorName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,62}$")]
Url = Annotated[str, StringConstraints(min_length=8, max_length=2000)]
Token = Annotated[SecretStr, Field(min_length=1, max_length=500)]
OutboxStatus = Literal["pending", "done", "skipped", "failed"]
SECRETS = ("user_token", "app_token", "client_secret", "password")  # each in a ``<name>_encrypted`` column


def missing_credentials(config: GlpiConfig, *, secrets: set[str]) -> list[str]:
    """What the connector's API (``config.api``) needs and it lacks, given the names of the secrets it has."""
    if config.api == "hl":
        return [f"config.{n}" for n in ("client_id", "username") if not getattr(config, n)] + [
            n for n in ("client_secret", "password") if n not in secrets]
    return [] if "user_token" in secrets else ["user_token"]


class ConnectorIn(BaseModel):
    """A GLPI connector (``kind`` may be left out)."""

    model_config = ConfigDict(extra="forbid")

    name: ConnectorName
    kind: Literal["glpi"] = "glpi"
    base_url: Url = Field(description="the API root, e.g. https://glpi.example.com/apirest.php/ "
                                      "(config.api hl: https://glpi.example.com/api.php/v2/)")
    config: GlpiConfig = Field(default_factory=GlpiConfig)
    user_token: Token | None = Field(default=None, description="legacy API: the user's API token")
    app_token: Token | None = None
    client_secret: Token | None = Field(default=None, description="HL API: the OAuth client's secret")
    password: Token | None = Field(default=None, description="HL API: the password of config.username")
    webhook_secret: Token | None = Field(default=None, description="the secret of GLPI's webhooks to this connector")
    enabled: bool = True

    @model_validator(mode="after")
    def _credentials(self) -> ConnectorIn:
        missing = missing_credentials(self.config, secrets={n for n in SECRETS if getattr(self, n) is not None})
        if missing and self.kind == "glpi":
            raise ValueError(f"the {self.config.api} API needs {', '.join(missing)}")
        return self


class SolmanConnectorIn(BaseModel):
    """A SAP Solution Manager connector: Basic (``config.user`` + ``password``) or OAuth2 client credentials
    (``config.token_url`` + ``config.client_id`` + ``client_secret``)."""

    model_config = ConfigDict(extra="forbid")

    name: ConnectorName
    kind: Literal["solman"]
    base_url: Url = Field(description="the Gateway root, e.g. https://solman.example.com:44300 (no path)")
    config: SolmanSyncConfig = Field(default_factory=SolmanSyncConfig)
    password: Token | None = None
    client_secret: Token | None = None
    enabled: bool = True

    @model_validator(mode="after")
    def _one_way_to_log_on(self) -> SolmanConnectorIn:
        basic = bool(self.config.user and self.password)
        oauth = bool(self.config.token_url and self.config.client_id and self.client_secret)
        if basic == oauth:
            raise ValueError("give either config.user and password (Basic), or config.token_url, config.client_id "
                             "and client_secret (OAuth2 client credentials)")
        return self


def _kind(value: Any) -> str:
    return str(value.get("kind", "glpi") if isinstance(value, dict) else getattr(value, "kind", "glpi"))


NewConnector = Annotated[Annotated[ConnectorIn, Tag("glpi")] | Annotated[SolmanConnectorIn, Tag("solman")],
                         Discriminator(_kind)]


class ConnectorPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    base_url: Url | None = None
    config: dict[str, Any] | None = Field(default=None, description="the whole config of the connector's kind "
                                          "(replaces the stored one; checked against that kind)")
    user_token: Token | None = None
    app_token: Token | None = None
    password: Token | None = None
    client_secret: Token | None = None
    webhook_secret: Token | None = Field(default=None, description="GLPI: null removes it: webhooks are refused")
    enabled: bool | None = None


class Connector(BaseModel):
    """A connector as the API shows it: whether secrets are set, never the secrets."""

    id: int
    name: str
    kind: str
    base_url: str
    config: GlpiConfig | SolmanSyncConfig
    enabled: bool
    has_user_token: bool
    has_app_token: bool
    has_password: bool
    has_client_secret: bool
    has_webhook_secret: bool = False
    inbound_cursor: str | None
    last_error: str | None
    last_polled_at: datetime | None
    created_at: datetime
    updated_at: datetime


class OutboxItem(BaseModel):
    id: int
    connector_id: int
    ticket_id: int
    ticket_number: str
    event_id: int
    event_kind: str
    status: OutboxStatus
    attempts: int
    last_error: str | None
    created_at: datetime
    updated_at: datetime


class ConnectorStatus(BaseModel):
    name: str
    enabled: bool
    queue_depth: int = Field(description="outbox items waiting to be pushed")
    lag_s: float | None = Field(description="age of the oldest waiting item, seconds; None when none waits")
    failed: list[OutboxItem] = Field(description="items that failed for good, with the external error (newest first)")
    last_polled_at: datetime | None
    last_error: str | None
    linked_tickets: int


class SyncConflict(BaseModel):
    id: int
    connector: str
    ticket_id: int
    ticket_number: str
    field: str
    local_value: Any
    remote_value: Any
    created_at: datetime
    resolved: bool
    resolution: Literal["theirs", "ours"] | None = None
    resolved_by: str | None = None
    resolved_at: datetime | None = None


class ConflictResolution(BaseModel):
    """Which value the ticket keeps: the external system's (already applied when the conflict was found) or
    deskmate's (applied again through the ticket service, so it is synced out like any change)."""

    model_config = ConfigDict(extra="forbid")

    keep: Literal["theirs", "ours"]
