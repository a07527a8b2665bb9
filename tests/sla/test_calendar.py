"""Business-time math: weekends, holidays, split days, DST changes in Europe and the US, validation."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from api.errors import ValidationFailed
from api.sla.calendar import Calendar, add_business_time, business_seconds_between

BERLIN, NEW_YORK = ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York")
WEEKDAYS = {d: [["09:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}
ALWAYS = {d: [["00:00", "24:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
HOUR = 3600


def office(zone: str = "Europe/Berlin", holidays: tuple[date, ...] = ()) -> Calendar:
    return Calendar.from_spec(zone, WEEKDAYS, holidays)


def local(tz: ZoneInfo, *args: int) -> datetime:
    return datetime(*args, tzinfo=tz)


def test_friday_afternoon_plus_four_hours_lands_on_monday_morning():
    due = add_business_time(office(), local(BERLIN, 2026, 11, 27, 15, 0), 4 * HOUR)
    assert due == local(BERLIN, 2026, 11, 30, 11, 0)
    assert due.astimezone(UTC) == datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


def test_a_clock_started_at_the_weekend_starts_counting_on_monday():
    assert add_business_time(office(), local(BERLIN, 2026, 11, 28, 12, 0), HOUR) == local(BERLIN, 2026, 11, 30, 10, 0)
    assert add_business_time(office(), local(BERLIN, 2026, 11, 28, 12, 0), 0) == local(BERLIN, 2026, 11, 30, 9, 0)


def test_a_target_that_ends_at_closing_time_is_due_at_closing_time():
    assert add_business_time(office(), local(BERLIN, 2026, 11, 30, 9, 0), 8 * HOUR) == local(BERLIN, 2026, 11, 30, 17, 0)


def test_holidays_are_skipped():
    cal = office(holidays=(date(2026, 12, 24), date(2026, 12, 25)))
    due = add_business_time(cal, local(BERLIN, 2026, 12, 23, 16, 0), 3 * HOUR)
    assert due == local(BERLIN, 2026, 12, 28, 11, 0)  # Wed 1 h, Thu/Fri holidays, weekend, Mon 2 h
    without = add_business_time(office(), local(BERLIN, 2026, 12, 23, 16, 0), 3 * HOUR)
    assert without == local(BERLIN, 2026, 12, 24, 11, 0)


def test_split_days_skip_the_lunch_break():
    cal = Calendar.from_spec("Europe/Berlin", {"mon": [["13:00", "17:00"], ["09:00", "12:00"]]})
    assert add_business_time(cal, local(BERLIN, 2026, 11, 30, 11, 0), 2 * HOUR) == local(BERLIN, 2026, 11, 30, 14, 0)
    assert business_seconds_between(cal, local(BERLIN, 2026, 11, 30, 8, 0), local(BERLIN, 2026, 11, 30, 18, 0)) == 7 * HOUR


def test_business_hours_keep_their_wall_clock_across_the_spring_dst_change_in_berlin():
    start = local(BERLIN, 2026, 3, 27, 16, 0)  # Friday, CET (UTC+1); DST starts Sunday 29 March
    due = add_business_time(office(), start, 2 * HOUR)
    assert due == local(BERLIN, 2026, 3, 30, 10, 0)  # Monday 10:00 CEST
    assert due.astimezone(UTC) == datetime(2026, 3, 30, 8, 0, tzinfo=UTC)  # not 09:00 UTC
    assert business_seconds_between(office(), start, due) == 2 * HOUR


def test_round_the_clock_targets_count_real_hours_across_dst_changes():
    cal = Calendar.from_spec("Europe/Berlin", ALWAYS)
    spring = add_business_time(cal, local(BERLIN, 2026, 3, 28, 23, 30), 4 * HOUR)
    assert spring.astimezone(BERLIN).strftime("%d %H:%M %Z") == "29 04:30 CEST"  # 5 h on the wall clock
    autumn = add_business_time(cal, local(BERLIN, 2026, 10, 24, 23, 0), 4 * HOUR)
    assert autumn.astimezone(BERLIN).strftime("%d %H:%M %Z") == "25 02:00 CET"  # 3 h on the wall clock
    assert business_seconds_between(cal, local(BERLIN, 2026, 3, 29, 0, 0), local(BERLIN, 2026, 3, 30, 0, 0)) == 23 * HOUR
    assert business_seconds_between(cal, local(BERLIN, 2026, 10, 25, 0, 0), local(BERLIN, 2026, 10, 26, 0, 0)) == 25 * HOUR


def test_a_night_shift_over_the_spring_change_is_an_hour_shorter():
    cal = Calendar.from_spec("Europe/Berlin", {"sun": [["00:00", "06:00"]]})
    night = business_seconds_between(cal, local(BERLIN, 2026, 3, 29, 0, 0), local(BERLIN, 2026, 3, 29, 12, 0))
    normal = business_seconds_between(cal, local(BERLIN, 2026, 3, 22, 0, 0), local(BERLIN, 2026, 3, 22, 12, 0))
    assert (night, normal) == (5 * HOUR, 6 * HOUR)


def test_new_york_dst_change():
    start = local(NEW_YORK, 2026, 3, 6, 16, 0)  # Friday EST; DST starts Sunday 8 March in the US
    due = add_business_time(office("America/New_York"), start, 2 * HOUR)
    assert due.astimezone(UTC) == datetime(2026, 3, 9, 14, 0, tzinfo=UTC)  # Monday 10:00 EDT = UTC-4


def test_business_seconds_between_skips_nights_and_weekends():
    cal = office()
    assert business_seconds_between(cal, local(BERLIN, 2026, 11, 27, 16, 0), local(BERLIN, 2026, 11, 30, 10, 0)) == 2 * HOUR
    assert business_seconds_between(cal, local(BERLIN, 2026, 11, 30, 10, 0), local(BERLIN, 2026, 11, 27, 16, 0)) == 0


def test_add_and_between_are_inverse():
    cal = office(holidays=(date(2026, 12, 25),))
    start = local(BERLIN, 2026, 12, 22, 13, 17)
    for hours in (0.5, 3, 8, 17, 40):
        due = add_business_time(cal, start, hours * HOUR)
        assert business_seconds_between(cal, start, due) == pytest.approx(hours * HOUR)
        assert due - start >= timedelta(hours=hours)


@pytest.mark.parametrize(("zone", "hours", "message"), [
    ("Mars/Olympus", WEEKDAYS, "Unknown time zone"),
    ("UTC", {"mon": [["09:00", "12:00"], ["11:00", "13:00"]]}, "overlap"),
    ("UTC", {"mon": [["17:00", "09:00"]]}, "end after they start"),
    ("UTC", {"mon": [["09:00", "25:00"]]}, "not a time of day"),
    ("UTC", {"funday": [["09:00", "17:00"]]}, "Unknown weekday"),
    ("UTC", {}, "at least one weekday"),
])
def test_bad_calendars_are_refused(zone, hours, message):
    with pytest.raises(ValidationFailed, match=message):
        Calendar.from_spec(zone, hours)
