"""Me-too shapes: a known issue as an affected person sees it, affected people, major-incident declarations."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from api.types import Status


class KnownIssue(BaseModel):
    """The open ticket a chat report was linked to instead of opening a duplicate."""

    id: int
    number: str
    title: str | None = Field(description="shown for a major incident only (otherwise another person's words)")
    status: Status
    major: bool = Field(description="declared a major incident (by an agent, or after enough similar reports)")
    affected: int = Field(description="how many people it affects, this one included")
    similarity: float | None = Field(default=None, description="cosine similarity of the report that matched")


class AffectedUser(BaseModel):
    user_id: int
    name: str
    email: str
    role: Literal["requester", "linked"]
    conversation_id: UUID | None
    linked_at: datetime


class MajorIncidentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    summary: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)] = Field(
        default="", description="how employees would describe it (e.g. 'VPN is down'); matched with the title")


class MajorIncident(BaseModel):
    ticket_id: int
    number: str
    declared_by: int | None
    automatic: bool
    summary: str
    declared_at: datetime
    affected: int
