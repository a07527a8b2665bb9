"""CSAT shapes: a ticket's survey and the report split by who resolved the ticket."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

ResolvedBy = Literal["bot", "person"]


class TicketCsat(BaseModel):
    ticket_id: int
    ticket_number: str
    status: Literal["queued", "sent", "skipped", "failed"] = Field(
        description="queued: not sent yet; sent: asked; skipped: nowhere to ask (or CSAT off); failed: the channel "
                    "refused for good")
    channel: str | None = Field(default=None, description="where it was asked: web, slack, teams or email")
    resolved_by: ResolvedBy
    resolver_id: int | None
    error: str | None = None
    asked_at: datetime | None
    answered_at: datetime | None
    score: int | None = Field(default=None, ge=1, le=5)
    comment: str | None = None


class Split(BaseModel):
    """The surveys of tickets one kind of resolver resolved."""

    asked: int = 0
    answered: int = 0
    average: float | None = None
    distribution: dict[str, int] = Field(default_factory=lambda: {str(n): 0 for n in range(1, 6)},
                                         description="how many answers gave each score, '1' to '5'")


class Answer(BaseModel):
    ticket_id: int
    ticket_number: str
    team: str | None
    category: str | None
    resolved_by: ResolvedBy
    resolver_id: int | None
    channel: str | None
    score: int
    comment: str | None
    asked_at: datetime | None
    answered_at: datetime


class Report(BaseModel):
    """Surveys of the tickets resolved in the period (first resolution), by who resolved them."""

    bot: Split
    person: Split
    responses: list[Answer] = Field(description="the answers, newest first (at most `limit`)")
