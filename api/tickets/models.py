"""Tickets: types, statuses and their allowed transitions, the ITIL priority matrix, API shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from api.types import (  # re-exported: the shared vocabulary lives in api/types.py
    OPEN_STATUSES,
    PRIORITY_NAMES,
    Body,
    Level,
    Slug,
    SourceType,
    Status,
    TicketType,
    Title,
    priority,
)

__all__ = ["OPEN_STATUSES", "PRIORITY_NAMES", "Body", "Level", "Slug", "SourceType", "Status", "TicketType", "Title",
           "priority"]


S = Status
# How a resolved ticket was resolved: by a verified workflow run (auto) or by a person (agent).
Resolution = Literal["auto", "agent"]
# Every allowed status change. resolved -> in_progress / new is a reopen.
TRANSITIONS: dict[Status, frozenset[Status]] = {
    S.new: frozenset({S.assigned, S.in_progress, S.pending, S.resolved, S.cancelled}),
    S.assigned: frozenset({S.in_progress, S.pending, S.resolved, S.cancelled}),
    S.in_progress: frozenset({S.pending, S.resolved, S.cancelled}),
    S.pending: frozenset({S.in_progress, S.resolved, S.cancelled}),
    S.resolved: frozenset({S.closed, S.in_progress, S.new}),
    S.closed: frozenset(),
    S.cancelled: frozenset(),
}
# What the requester may do on their own ticket: cancel it while open, confirm or reopen a resolution.
REQUESTER_TRANSITIONS: dict[Status, frozenset[Status]] = {
    **{s: frozenset({S.cancelled}) for s in OPEN_STATUSES},
    S.resolved: frozenset({S.closed, S.in_progress, S.new}),
}


class TicketCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Title
    description: Body = ""
    type: TicketType = TicketType.incident
    category: Slug | None = None
    urgency: Level = 3
    impact: Level = 3
    source_type: SourceType = SourceType.WEB
    source_reference: Annotated[str, StringConstraints(max_length=255)] | None = None
    integration_metadata: dict[str, Any] = Field(default_factory=dict)
    requester_id: int | None = Field(default=None, description="staff only; defaults to the caller")
    team: Slug | None = Field(default=None, description="staff only")


class TicketUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Title | None = None
    description: Body | None = None
    category: Slug | None = None
    urgency: Level | None = None
    impact: Level | None = None
    team: Slug | None = None
    integration_metadata: dict[str, Any] | None = None


REQUESTER_FIELDS = frozenset({"title", "description"})


class Transition(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Status
    reason: Annotated[str, StringConstraints(max_length=2000)] | None = None
    expected_status: Status | None = Field(
        default=None, description="refuse (409) unless the ticket is in this status now"
    )


class Assignment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    assignee_id: int | None
    team: Slug | None = None


class CommentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20_000)]
    internal: bool = False


class Ticket(BaseModel):
    id: int
    number: str
    type: TicketType
    title: str
    description: str
    category: str | None
    urgency: int
    impact: int
    priority: int
    status: Status
    requester_id: int
    team: str | None
    team_id: int | None
    assignee_id: int | None
    source_type: SourceType
    source_reference: str | None
    integration_metadata: dict[str, Any]
    version: int
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    closed_at: datetime | None
    resolution: Resolution | None = Field(default=None, description="how it was resolved: auto (a verified "
                                          "workflow run) or agent (a person); None while open")
    respond_due_at: datetime | None = Field(default=None, description="SLA: first response due (triage)")
    resolve_due_at: datetime | None = Field(default=None, description="SLA: resolution due (triage)")


class TicketPage(BaseModel):
    items: list[Ticket]
    next_cursor: str | None


class Comment(BaseModel):
    id: int
    ticket_id: int
    author_id: int | None
    body: str
    internal: bool
    created_at: datetime


class Event(BaseModel):
    id: int
    ticket_id: int
    actor_id: int | None
    kind: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    meta: dict[str, Any]
    created_at: datetime


class Category(BaseModel):
    id: int
    slug: str
    name: str
    description: str
    default_team: str | None


class CategoryCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    slug: Slug
    name: Title
    description: Body = ""
    default_team: Slug | None = None
