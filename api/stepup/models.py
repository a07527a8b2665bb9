"""Step-up shapes: factors, challenges as the bot may show them (destinations masked, never a code), proofs."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class Factor(StrEnum):
    sms = "sms"
    email = "email"
    totp = "totp"


# The factor used when the caller names none: the authenticator first (nothing travels), then SMS, then e-mail.
PREFERENCE = (Factor.totp, Factor.sms, Factor.email)


class ChallengeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    factor: Factor | None = Field(default=None, description="default: totp, else sms, else email")


class CodeSubmit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: Annotated[SecretStr, Field(min_length=1, max_length=32, description="the six digits, spaces allowed")]


class FactorOnFile(BaseModel):
    factor: Factor
    destination: str = Field(description="masked: '+44 •••• ••12', 'jo•••@example.com', 'authenticator app'")


class Challenge(BaseModel):
    id: int
    conversation_id: UUID
    factor: Factor
    destination: str
    expires_at: datetime
    message: str = Field(description="what the bot may tell the employee")
    available: list[FactorOnFile] = Field(default_factory=list, description="every factor on file, masked")


class Proof(BaseModel):
    """A passed check: the workflow engine asks ``service.require_recent`` for one before a sensitive step."""

    challenge_id: int
    user_id: int
    conversation_id: UUID
    factor: Factor
    verified_at: datetime
    valid_until: datetime
