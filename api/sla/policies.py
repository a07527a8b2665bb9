"""SLA policies (targets per priority, optionally per team) and business calendars (hours, holidays)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from psycopg.errors import UniqueViolation
from psycopg.types.json import Jsonb

from api import sql
from api.db import Conn
from api.errors import Conflict, NotFound, ValidationFailed
from api.sla.calendar import Calendar, add_business_time
from api.sla.models import BusinessCalendar, CalendarIn, Policy, PolicyIn

Q = sql.load("api.sla")


async def list_calendars(conn: Conn, *, slug: str | None = None) -> list[BusinessCalendar]:
    rows = await (await conn.execute(Q.list_calendars, {"slug": slug})).fetchall()
    return [BusinessCalendar(**r) for r in rows]


async def put_calendar(conn: Conn, *, data: CalendarIn, slug: str | None = None) -> BusinessCalendar:
    """Creates or replaces the calendar ``data.slug`` with its holidays; ``slug`` (from the URL) must match it."""
    if slug is not None and data.slug != slug:
        raise ValidationFailed(f"The body's slug {data.slug!r} differs from the URL's {slug!r}.")
    async with conn.transaction():
        if data.is_default:
            await conn.execute(Q.clear_default_calendar, {"slug": data.slug})
        row = await (await conn.execute(Q.upsert_calendar, data.model_dump(exclude={"holidays"}) | {
            "hours": Jsonb(data.hours)})).fetchone()
        assert row is not None
        await conn.execute(Q.delete_holidays, {"calendar_id": row["id"]})
        for holiday in data.holidays:
            await conn.execute(Q.insert_holiday, holiday.model_dump() | {"calendar_id": row["id"]})
    return (await list_calendars(conn, slug=data.slug))[0]


async def set_team_calendar(conn: Conn, *, team: str, calendar: str) -> None:
    if await (await conn.execute(Q.set_team_calendar, {"team": team, "calendar": calendar})).fetchone() is None:
        raise NotFound(f"No team {team!r} or no calendar {calendar!r}.")


def _calendar(row: dict[str, Any] | None) -> Calendar:
    if row is None:
        return Calendar.always_open()
    return Calendar.from_spec(row["time_zone"], row["hours"], row["holidays"])


async def calendar_for_team(conn: Conn, *, team_id: int | None) -> tuple[int | None, Calendar]:
    """The team's calendar, else the default one, else 24/7 UTC; with its id (None for 24/7)."""
    row = await (await conn.execute(Q.calendar_for_team, {"team_id": team_id})).fetchone()
    return (row["id"] if row else None), _calendar(row)


async def list_policies(conn: Conn, *, policy_id: int | None = None) -> list[Policy]:
    return [Policy(**r) for r in await (await conn.execute(Q.list_policies, {"id": policy_id})).fetchall()]


async def _check_team(conn: Conn, team: str | None) -> None:
    if team and not await (await conn.execute(Q.team_exists, {"slug": team})).fetchone():
        raise ValidationFailed(f"Unknown team {team!r}.")


async def create_policy(conn: Conn, *, data: PolicyIn) -> Policy:
    await _check_team(conn, data.team)
    try:
        row = await (await conn.execute(Q.create_policy, data.model_dump())).fetchone()
    except UniqueViolation as exc:
        raise Conflict(f"There is already a P{data.priority} policy for {data.team or 'all teams'}.") from exc
    return (await list_policies(conn, policy_id=row["id"]))[0]  # type: ignore[index]


async def update_policy(conn: Conn, *, policy_id: int, data: PolicyIn) -> Policy:
    await _check_team(conn, data.team)
    try:
        row = await (await conn.execute(Q.update_policy, data.model_dump() | {"id": policy_id})).fetchone()
    except UniqueViolation as exc:
        raise Conflict(f"There is already a P{data.priority} policy for {data.team or 'all teams'}.") from exc
    if row is None:
        raise NotFound(f"No SLA policy {policy_id}.")
    return (await list_policies(conn, policy_id=policy_id))[0]


async def delete_policy(conn: Conn, *, policy_id: int) -> None:
    if await (await conn.execute(Q.delete_policy, {"id": policy_id})).fetchone() is None:
        raise NotFound(f"No SLA policy {policy_id}.")


def preview(cal: Calendar, *, start: datetime, minutes: int) -> datetime:
    """When ``minutes`` business minutes after ``start`` end on ``cal``."""
    return add_business_time(cal, start if start.tzinfo else start.replace(tzinfo=UTC), minutes * 60)


async def preview_due(conn: Conn, *, slug: str, start: datetime, minutes: int) -> datetime:
    """When ``minutes`` business minutes after ``start`` end on the calendar ``slug``; NotFound without it."""
    found = await list_calendars(conn, slug=slug)
    if not found:
        raise NotFound(f"No calendar {slug!r}.")
    return preview(found[0].calendar(), start=start, minutes=minutes)
