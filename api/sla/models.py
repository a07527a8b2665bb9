"""SLA policies, business calendars and a ticket's SLA clock."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from api.sla.calendar import Calendar
from api.types import Slug, Title

Hours = dict[str, list[Annotated[list[Annotated[str, StringConstraints(max_length=5)]], Field(min_length=2, max_length=2)]]]


class Holiday(BaseModel):
    model_config = ConfigDict(extra="forbid")

    day: date
    name: Annotated[str, StringConstraints(max_length=200)] = ""


class CalendarIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    slug: Slug
    name: Title
    time_zone: str = Field(description="IANA name, e.g. Europe/Berlin")
    hours: Hours = Field(description='{"mon": [["09:00", "17:00"]], …}; "24:00" ends a day; missing days closed')
    holidays: list[Holiday] = Field(default_factory=list, max_length=1000)
    is_default: bool = Field(default=False, description="used by teams without a calendar of their own")

    @model_validator(mode="after")
    def _valid(self) -> CalendarIn:
        self.calendar()
        return self

    def calendar(self) -> Calendar:
        return Calendar.from_spec(self.time_zone, self.hours, [h.day for h in self.holidays])


class BusinessCalendar(CalendarIn):
    model_config = ConfigDict(extra="ignore")

    id: int
    teams: list[str] = Field(default_factory=list)


class PolicyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Title
    priority: int = Field(ge=1, le=5)
    team: Slug | None = Field(default=None, description="only for this team; a team's policy wins over the general one")
    respond_minutes: int = Field(gt=0, le=525_600, description="business minutes to the first response")
    resolve_minutes: int = Field(gt=0, le=525_600, description="business minutes to resolution")
    # stored as a 4-byte real: bounds it can hold exactly enough (1e-323 underflowed, 0.99999999 became 1)
    warn_ratio: float = Field(default=0.8, ge=0.01, le=0.99, description="share of the target that raises the warning")


class Policy(PolicyIn):
    model_config = ConfigDict(extra="ignore")

    id: int


class DuePreview(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: datetime
    minutes: int = Field(gt=0, le=525_600)


TargetState = Literal["running", "paused", "met", "breached", "met_late"]


class TicketSla(BaseModel):
    ticket_id: int
    policy: str | None
    calendar: str | None
    started_at: datetime
    respond_due_at: datetime | None
    resolve_due_at: datetime | None
    respond_warn_at: datetime | None
    resolve_warn_at: datetime | None
    responded_at: datetime | None
    resolved_at: datetime | None
    paused_at: datetime | None
    paused_business_s: float
    respond_warned_at: datetime | None
    respond_breached_at: datetime | None
    resolve_warned_at: datetime | None
    resolve_breached_at: datetime | None
    respond: TargetState
    resolve: TargetState
