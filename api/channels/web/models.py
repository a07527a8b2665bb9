"""The web widget's request and response shapes."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, StringConstraints, field_validator

from api.channels import Channel
from api.chat.models import Employee


class ConversationStart(BaseModel):
    model_config = ConfigDict(extra="forbid")

    identity: Annotated[str, StringConstraints(max_length=2000)] | None = None
    channel: Channel = Channel.web

    @field_validator("channel")
    @classmethod
    def _web_only(cls, value: Channel) -> Channel:
        if value is not Channel.web:
            raise ValueError("this endpoint starts web widget conversations; other channels have their own")
        return value


class ConversationStarted(BaseModel):
    conversation_id: UUID
    session_token: str
    employee: Employee | None
