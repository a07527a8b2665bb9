"""Classification results, routing rules, shifts, decisions and their API shapes."""

from __future__ import annotations

from datetime import datetime, time
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from api.types import Body, Level, Slug, SourceType, Title

SkillName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=64)]
Word = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class Neighbour(BaseModel):
    category: str
    similarity: float
    source: str


class Classification(BaseModel):
    """What triage read from a ticket: the category with its confidence, urgency/impact cues, the chat intent."""

    category: str | None
    confidence: float = Field(ge=0, le=1)
    urgency: int
    impact: int
    cues: list[str] = Field(default_factory=list)
    intent: str | None = None
    intent_category: str | None = None
    intent_confidence: float = 0.0
    neighbours: list[Neighbour] = Field(default_factory=list)


class Conditions(BaseModel):
    """Every condition given must hold; within a list, any value matches. Empty = matches everything."""

    model_config = ConfigDict(extra="forbid")

    categories: list[Slug] = Field(default_factory=list, max_length=50)
    intents: list[Word] = Field(default_factory=list, max_length=50)
    sources: list[SourceType] = Field(default_factory=list)
    priorities: list[Annotated[int, Field(ge=1, le=5)]] = Field(default_factory=list, max_length=5)
    keywords: list[Word] = Field(default_factory=list, max_length=100,
                                 description="words or phrases in the title or description, case-insensitive")
    departments: list[Word] = Field(default_factory=list, max_length=50)
    vip: bool | None = Field(default=None, description="true: only VIP requesters; false: only others")


class RuleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Title
    position: int = Field(default=100, ge=0, le=1_000_000, description="rules are tried lowest first")
    enabled: bool = True
    conditions: Conditions = Field(default_factory=Conditions)
    team: Slug
    agent_id: int | None = Field(default=None, description="assign to this agent when on shift with free capacity")
    skill: SkillName | None = Field(default=None, description="the skill to match agents on instead of the category")


class Rule(BaseModel):
    id: int
    name: str
    position: int
    enabled: bool
    conditions: Conditions
    team: str
    agent_id: int | None
    skill: str | None
    created_at: datetime
    updated_at: datetime


class ShiftIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    weekday: int = Field(ge=0, le=6, description="0 = Monday")
    starts: time
    ends: time = Field(description="at or before starts: the shift ends the next day")
    time_zone: str = "UTC"

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from api.sla.calendar import zone

        zone(value)
        return value


class Shift(ShiftIn):
    model_config = ConfigDict(extra="ignore")

    id: int
    user_id: int


class Candidate(BaseModel):
    agent_id: int
    name: str
    skill: str | None
    skill_level: int
    load: float
    capacity: int
    on_shift: bool
    eligible: bool
    score: float
    note: str = ""


class Step(BaseModel):
    step: str
    detail: str


class Decision(BaseModel):
    id: int | None = None
    ticket_id: int | None = None
    team: str | None
    team_id: int | None
    agent_id: int | None
    agent_name: str | None = None
    rule_id: int | None = None
    rule_name: str | None = None
    confidence: float
    reason: str
    classification: Classification
    candidates: list[Candidate]
    steps: list[Step]
    created_at: datetime | None = None


class Probe(BaseModel):
    """A ticket-like payload for a dry run of classification and routing."""

    model_config = ConfigDict(extra="forbid")

    title: Title
    description: Body = ""
    category: Slug | None = None
    urgency: Level = 3
    impact: Level = 3
    source_type: SourceType = SourceType.WEB
    integration_metadata: dict[str, Any] = Field(default_factory=dict)
    requester_id: int | None = Field(default=None, description="defaults to the caller")
    team: Slug | None = None


class Feedback(BaseModel):
    id: int
    ticket_id: int
    decision_id: int | None
    actor_id: int | None
    kind: str
    before: dict[str, Any]
    after: dict[str, Any]
    created_at: datetime
