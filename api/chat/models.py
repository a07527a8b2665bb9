"""Chat gateway shapes: conversations, turns, bot messages with buttons, links and citations."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from api.incidents.models import KnownIssue
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
    separate: bool = Field(default=False, description=(
        "the employee says their problem is not the known issue they were linked to: no matching, a ticket of "
        "their own, and this conversation's link removed"))


class ConversationTicket(BaseModel):
    """The ticket, and the confirmation stored in the conversation (none when the bot says it in its turn).

    ``outcome`` "linked": the report matched a known issue; no ticket was opened, the employee is one of its
    affected people, ``incident`` says which, and ``ticket`` is that ticket without its description and metadata.
    """

    ticket: Ticket
    messages: list[Message]
    outcome: Literal["opened", "linked"] = "opened"
    incident: KnownIssue | None = None


class ParseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=10_000)]
