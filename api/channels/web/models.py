"""The web widget's request and response shapes."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, StringConstraints, field_validator

from api.channels import Channel
from api.chat.models import Employee


class ClientKind(StrEnum):
    """What the widget runs in: the employee portal sends ``mobile`` when it runs as the installed app or on a
    phone-sized screen (api/web/static/portal.js); tickets of such conversations carry source MOBILE."""

    browser = "browser"
    mobile = "mobile"


class ConversationStart(BaseModel):
    model_config = ConfigDict(extra="forbid")

    identity: Annotated[str, StringConstraints(max_length=2000)] | None = None
    channel: Channel = Channel.web
    client: ClientKind = ClientKind.browser

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
