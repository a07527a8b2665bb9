"""Chat gateway shapes: conversations, turns, bot messages with buttons, links and citations."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from api.tickets.models import Ticket, TicketType


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


class UserText(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=10_000)]


class Turn(BaseModel):
    messages: list[Message]
    intent: str | None
    confidence: float | None


class Transcript(BaseModel):
    messages: list[Message]


DetailKey = Annotated[str, StringConstraints(min_length=1, max_length=64)]
DetailValue = Annotated[str, StringConstraints(max_length=1000)]


class TicketRequest(BaseModel):
    """Open a ticket from a conversation: why, and what the bot collected; the api builds the rest."""

    model_config = ConfigDict(extra="forbid")

    reason: Literal["user_request", "form", "fallback", "assistant_unavailable"] = "user_request"
    summary: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = None
    description: Annotated[str, StringConstraints(max_length=5000)] | None = None
    urgency: int = Field(default=3, ge=1, le=3)
    type: TicketType | None = None
    details: dict[DetailKey, DetailValue] = Field(default_factory=dict, max_length=20)


class ConversationTicket(BaseModel):
    """The ticket, and the confirmation stored in the conversation (none when the bot says it in its turn)."""

    ticket: Ticket
    messages: list[Message]


class ParseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=10_000)]
