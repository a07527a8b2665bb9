"""Business-hours calendars: weekly opening hours in a time zone, minus holidays.

Wall-clock hours are turned into UTC instants day by day with zoneinfo, and all arithmetic happens
in UTC, so a day with a DST change simply has one hour more or less of business time.

    cal = Calendar.from_spec("Europe/Berlin", {"mon": [["09:00", "17:00"]], ...}, holidays=[date(2026, 12, 25)])
    due = add_business_time(cal, created_at, 4 * 3600)          # 4 business hours later
    spent = business_seconds_between(cal, paused_at, resumed_at)
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from api.errors import ValidationFailed

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_MINUTES = 24 * 60
_SEARCH_DAYS = 800  # give up looking for business hours after this many days (a calendar with none)

Interval = tuple[int, int]  # minutes after local midnight, [start, end)


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name``; ValidationFailed when unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationFailed(f"Unknown time zone {name!r}; use an IANA name such as Europe/Berlin.") from exc


def _minutes(text: str) -> int:
    hours, _, minutes = text.partition(":")
    if not (hours.isdigit() and minutes.isdigit() and len(minutes) == 2):
        raise ValidationFailed(f"Business hours are written HH:MM, not {text!r}.")
    value = int(hours) * 60 + int(minutes)
    if int(minutes) >= 60 or value > DAY_MINUTES:
        raise ValidationFailed(f"{text!r} is not a time of day (00:00-24:00).")
    return value


def parse_hours(spec: dict[str, list[list[str]]]) -> dict[int, tuple[Interval, ...]]:
    """{"mon": [["09:00", "12:00"], ["13:00", "17:00"]], …} -> {0: ((540, 720), (780, 1020)), …}."""
    unknown = set(spec) - set(WEEKDAYS)
    if unknown:
        raise ValidationFailed(f"Unknown weekday(s) {sorted(unknown)}; use {', '.join(WEEKDAYS)}.")
    week: dict[int, tuple[Interval, ...]] = {}
    for number, name in enumerate(WEEKDAYS):
        intervals = sorted((_minutes(a), _minutes(b)) for a, b in spec.get(name, []))
        if any(start >= end for start, end in intervals):
            raise ValidationFailed(f"{name}: business hours must end after they start.")
        if any(b[0] < a[1] for a, b in zip(intervals, intervals[1:], strict=False)):
            raise ValidationFailed(f"{name}: business hours overlap.")
        week[number] = tuple(intervals)
    if not any(week.values()):
        raise ValidationFailed("A calendar needs business hours on at least one weekday.")
    return week


@dataclass(frozen=True)
class Calendar:
    time_zone: str
    week: dict[int, tuple[Interval, ...]]
    holidays: frozenset[date] = field(default_factory=frozenset)

    @classmethod
    def from_spec(cls, time_zone: str, hours: dict[str, list[list[str]]], holidays: Iterable[date] = ()) -> Calendar:
        zone(time_zone)
        return cls(time_zone, parse_hours(hours), frozenset(holidays))

    @classmethod
    def always_open(cls) -> Calendar:
        """24/7 in UTC: what a ticket gets when neither its team nor the installation has a calendar."""
        return cls("UTC", {d: ((0, DAY_MINUTES),) for d in range(7)})

    def day_intervals(self, day: date) -> list[tuple[datetime, datetime]]:
        """The business intervals of local ``day`` as UTC instants."""
        if day in self.holidays:
            return []
        tz = zone(self.time_zone)
        midnight = datetime.combine(day, time())
        return [
            ((midnight + timedelta(minutes=a)).replace(tzinfo=tz).astimezone(UTC),
             (midnight + timedelta(minutes=b)).replace(tzinfo=tz).astimezone(UTC))
            for a, b in self.week.get(day.weekday(), ())
        ]

    def intervals_from(self, start: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Business intervals (UTC) that end after ``start``, clipped to begin no earlier than it."""
        start = start.astimezone(UTC)
        day = start.astimezone(zone(self.time_zone)).date() - timedelta(days=1)
        empty_days = 0
        while empty_days < _SEARCH_DAYS:
            found = False
            for a, b in self.day_intervals(day):
                if b > start:
                    found = True
                    yield max(a, start), b
            empty_days = 0 if found else empty_days + 1
            day += timedelta(days=1)
        raise ValidationFailed(f"The calendar has no business hours in {_SEARCH_DAYS} days after {start:%Y-%m-%d}.")


def add_business_time(cal: Calendar, start: datetime, seconds: float) -> datetime:
    """The instant when ``seconds`` of business time have passed after ``start`` (UTC)."""
    remaining = max(seconds, 0.0)
    for a, b in cal.intervals_from(start):
        span = (b - a).total_seconds()
        if remaining <= span:
            return a + timedelta(seconds=remaining)
        remaining -= span
    raise AssertionError("unreachable: intervals_from raises when it runs out")


def business_seconds_between(cal: Calendar, start: datetime, end: datetime) -> float:
    """Business time, in seconds, between two instants (0 when ``end`` is not after ``start``)."""
    end = end.astimezone(UTC)
    total = 0.0
    if end <= start:
        return total
    for a, b in cal.intervals_from(start):
        if a >= end:
            break
        total += (min(b, end) - a).total_seconds()
    return total
