"""The web widget's request and response shapes."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, StringConstraints

from api.chat.models import Employee


class ConversationStart(BaseModel):
    model_config = ConfigDict(extra="forbid")

    identity: Annotated[str, StringConstraints(max_length=2000)] | None = None


class ConversationStarted(BaseModel):
    conversation_id: UUID
    session_token: str
    employee: Employee | None
