"""Analytics query parameters and the response envelope."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

MAX_DAYS = 366
DEFAULT_DAYS = 28


class Metric(StrEnum):
    deflection = "deflection"
    volume = "volume"
    backlog = "backlog"
    mtta = "mtta"
    mttr = "mttr"
    fcr = "fcr"
    reopen_rate = "reopen_rate"
    sla = "sla"
    bot_failures = "bot_failures"
    kb = "kb"
    csat = "csat"


class Granularity(StrEnum):
    day = "day"
    week = "week"


def _today() -> date:
    return datetime.now(UTC).date()


class Period(BaseModel):
    """``from`` and ``to`` are UTC days, both included; the default is the last 28 days up to today."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    start: date | None = Field(default=None, alias="from")
    end: date | None = Field(default=None, alias="to")
    team: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=100)
    category: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=100)
    granularity: Granularity = Granularity.day

    @field_validator("start", "end", "team", "category", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        """An empty form field (the page's filters) means "not given"."""
        return None if value == "" else value

    @model_validator(mode="after")
    def _range(self) -> Period:
        self.end = self.end or _today()
        self.start = self.start or self.end - timedelta(days=DEFAULT_DAYS - 1)
        if self.start > self.end:
            raise ValueError("'from' must not be after 'to'")
        if (self.end - self.start).days + 1 > MAX_DAYS:
            raise ValueError(f"the period may span at most {MAX_DAYS} days")
        return self

    @property
    def since(self) -> datetime:
        """The first instant of the period (UTC midnight of ``from``)."""
        assert self.start is not None
        return datetime.combine(self.start, time(), UTC)

    @property
    def until(self) -> datetime:
        """The first instant after the period (UTC midnight after ``to``)."""
        assert self.end is not None
        return datetime.combine(self.end + timedelta(days=1), time(), UTC)

    def params(self) -> dict[str, Any]:
        return {"start": self.since, "end": self.until, "team": self.team, "category": self.category,
                "granularity": self.granularity.value}


class MetricResult(BaseModel):
    metric: Metric
    start: date = Field(serialization_alias="from")
    end: date = Field(serialization_alias="to")
    team: str | None
    category: str | None
    granularity: Granularity
    data: dict[str, Any]
