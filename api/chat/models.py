"""Chat gateway shapes: conversations, turns, bot messages with buttons, links and citations."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from api.tickets.models import Ticket


class Button(BaseModel):
    title: str
    payload: str


class Link(BaseModel):
    title: str
    url: str


class Citation(BaseModel):
    n: int
    title: str
    url: str | None = None


class Message(BaseModel):
    id: int
    direction: Literal["user", "bot"]
    text: str
    buttons: list[Button] = Field(default_factory=list)
    links: list[Link] = Field(default_factory=list)
    citations: list[Citation] = Field(default_factory=list)
    intent: str | None = None
    confidence: float | None = None
    ticket_number: str | None = None
    created_at: datetime


class Employee(BaseModel):
    email: str
    name: str


class ConversationStart(BaseModel):
    model_config = ConfigDict(extra="forbid")

    identity: Annotated[str, StringConstraints(max_length=2000)] | None = None
    channel: Literal["web"] = "web"


class ConversationStarted(BaseModel):
    conversation_id: UUID
    session_token: str
    employee: Employee | None


class UserText(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=10_000)]


class Turn(BaseModel):
    messages: list[Message]
    intent: str | None
    confidence: float | None


class Transcript(BaseModel):
    messages: list[Message]


class EscalationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Literal["user_request", "form", "fallback", "assistant_unavailable"] = "user_request"
    summary: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = None
    description: Annotated[str, StringConstraints(max_length=5000)] | None = None
    urgency: int = Field(default=3, ge=1, le=3)


class Escalation(BaseModel):
    ticket: Ticket
    messages: list[Message]


class ParseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=10_000)]
