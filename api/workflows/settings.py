"""Settings of the workflows' ``http`` steps: the external APIs a definition may call, by name
(``DESKMATE_WORKFLOW_ENDPOINTS``, docs/workflows.md#http-steps)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator


class EndpointSettings(BaseModel):
    """One external API: its base URL, how deskmate authenticates, how long it waits.

    The secret is a token of ``deskmate secrets encrypt`` (api/crypto.py) in ``secret_encrypted``; ``secret`` in
    clear is for development only (refused in production)."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(pattern=r"^https?://[^/?#]+(/[^?#]*)?$", description="the base URL; a step's path is added to it")
    auth: Literal["none", "bearer", "header"] = "none"
    header: str = Field(default="X-Api-Key", pattern=r"^[A-Za-z0-9-]+$", description="the header of auth: header")
    secret_encrypted: str | None = None
    secret: SecretStr | None = None
    timeout_s: float = Field(default=10.0, gt=0, le=120)

    @model_validator(mode="after")
    def _secret_when_needed(self) -> EndpointSettings:
        if self.auth != "none" and self.secret_encrypted is None and self.secret is None:
            raise ValueError(f"auth: {self.auth} needs secret_encrypted (a token of `deskmate secrets encrypt`)")
        return self
