"""The SLA admin page over a signed-in session: policies and calendars as the service has them, a policy created,
edited and deleted through the forms (PolicyIn), a calendar created and edited (CalendarIn), a team's calendar set,
errors beside their fields with the input kept, roles and CSRF."""

from __future__ import annotations

import re
from datetime import date

import httpx
import psycopg
from admin_support import field_error, field_value, signed_in, unique

from api.auth.models import Role
from api.settings import Settings
from api.sla import policies
from api.sla.models import CalendarIn, Holiday, PolicyIn

PAGE = "/console/admin/sla"


async def _policy(conn: psycopg.AsyncConnection, team: str):
    return next((p for p in await policies.list_policies(conn) if p.team == team), None)


async def _calendar(conn: psycopg.AsyncConnection, slug: str):
    found = await policies.list_calendars(conn, slug=slug)
    return found[0] if found else None


async def test_the_page_lists_policies_and_calendars_with_their_teams(
        web: httpx.AsyncClient, conn: psycopg.AsyncConnection, web_settings: Settings, make_actor, make_team) -> None:
    await signed_in(web, conn, web_settings, make_actor)
    team, slug = await make_team(), unique("cal-")
    policy = await policies.create_policy(conn, data=PolicyIn(name=f"Gold {team}", priority=2, team=team,
                                                              respond_minutes=30, resolve_minutes=480))
    await policies.put_calendar(conn, data=CalendarIn(slug=slug, name=f"Berlin {slug}", time_zone="Europe/Berlin",
                                                      hours={"mon": [["08:00", "12:00"], ["13:00", "17:00"]]},
                                                      holidays=[Holiday(day=date(2026, 12, 25), name="Christmas")]))
    await policies.set_team_calendar(conn, team=team, calendar=slug)
    page = await web.get(PAGE)
    assert page.status_code == 200
    row = re.search(rf'<tr data-policy="{policy.id}">(.*?)</tr>', page.text, re.S)
    assert row and f"Gold {team}" in row.group(1) and "2 high" in row.group(1) and "480 min" in row.group(1)
    calendar = re.search(rf'<tr data-calendar="{slug}">(.*?)</tr>', page.text, re.S)
    assert calendar, "the calendar is not listed"
    cells = [" ".join(re.sub(r"<[^>]+>", " ", c).split()) for c in re.findall(r"<td>(.*?)</td>", calendar.group(1), re.S)]
    assert cells == [f"Berlin {slug} ({slug})", "Europe/Berlin", "mon 08:00-12:00, 13:00-17:00", "1", team]


async def test_a_policy_is_created_edited_and_deleted_through_the_forms(
        web: httpx.AsyncClient, conn: psycopg.AsyncConnection, web_settings: Settings, make_actor, make_team) -> None:
    csrf = await signed_in(web, conn, web_settings, make_actor)
    team = await make_team()
    form = {"csrf_token": csrf, "name": f"Silver {team}", "priority": "3", "team": team, "respond_minutes": "60",
            "resolve_minutes": "960", "warn_ratio": "0.75"}
    created = await web.post(f"{PAGE}/policies", data=form)
    assert created.status_code == 303 and created.headers["location"] == f"{PAGE}?done=created"
    policy = await _policy(conn, team)
    assert policy is not None and policy.model_dump(exclude={"id"}) == {
        "name": f"Silver {team}", "priority": 3, "team": team, "respond_minutes": 60, "resolve_minutes": 960,
        "warn_ratio": 0.75}

    twice = await web.post(f"{PAGE}/policies", data=form)
    assert twice.status_code == 409 and f"There is already a P3 policy for {team}." in twice.text
    assert field_value(twice, "policy", "name") == f"Silver {team}"

    assert field_value(await web.get(f"{PAGE}/policies/{policy.id}"), "policy", "resolve_minutes") == "960"
    saved = await web.post(f"{PAGE}/policies/{policy.id}", data=form | {"resolve_minutes": "1440"})
    assert saved.status_code == 303
    assert (await _policy(conn, team)).resolve_minutes == 1440  # type: ignore[union-attr]

    deleted = await web.post(f"{PAGE}/policies/{policy.id}/delete", data={"csrf_token": csrf})
    assert deleted.status_code == 303 and await _policy(conn, team) is None


async def test_a_bad_policy_shows_the_fields_messages_and_keeps_the_input(
        web: httpx.AsyncClient, conn: psycopg.AsyncConnection, web_settings: Settings, make_actor, make_team) -> None:
    csrf = await signed_in(web, conn, web_settings, make_actor)
    team = await make_team()
    bad = await web.post(f"{PAGE}/policies", data={
        "csrf_token": csrf, "name": f"Bronze {team}", "priority": "4", "team": team, "respond_minutes": "0",
        "resolve_minutes": "abc", "warn_ratio": "2"})
    assert bad.status_code == 422
    assert field_error(bad, "policy", "respond_minutes") == "Input should be greater than 0"
    assert field_error(bad, "policy", "resolve_minutes").startswith("Input should be a valid integer")
    assert field_error(bad, "policy", "warn_ratio") == "Input should be less than or equal to 0.99"
    assert field_value(bad, "policy", "name") == f"Bronze {team}" and field_value(bad, "policy", "resolve_minutes") == "abc"
    assert await _policy(conn, team) is None


async def test_a_calendar_is_created_edited_and_bound_to_a_team(
        web: httpx.AsyncClient, conn: psycopg.AsyncConnection, web_settings: Settings, make_actor, make_team) -> None:
    csrf = await signed_in(web, conn, web_settings, make_actor)
    team, slug = await make_team(), unique("cal-")
    created = await web.post(f"{PAGE}/calendars", data={
        "csrf_token": csrf, "slug": slug, "name": "Lisbon office", "time_zone": "Europe/Lisbon",
        "mon": "09:00-12:30, 14:00-18:00", "fri": "09:00-13:00", "holidays": "2026-06-13 Santo António\n2026-12-25"})
    assert created.status_code == 303 and created.headers["location"] == f"{PAGE}?done=calendar"
    calendar = await _calendar(conn, slug)
    assert calendar is not None and calendar.time_zone == "Europe/Lisbon" and not calendar.is_default
    assert calendar.hours == {"mon": [["09:00", "12:30"], ["14:00", "18:00"]], "fri": [["09:00", "13:00"]]}
    assert [(h.day, h.name) for h in calendar.holidays] == [(date(2026, 6, 13), "Santo António"), (date(2026, 12, 25), "")]

    edit = await web.get(f"{PAGE}/calendars/{slug}")
    assert field_value(edit, "calendar", "mon") == "09:00-12:30, 14:00-18:00"
    bad = await web.post(f"{PAGE}/calendars/{slug}", data={"csrf_token": csrf, "name": "Lisbon office",
                                                           "time_zone": "Europe/Lisbon", "mon": "9-17",
                                                           "holidays": "2026-13-01 Nowhere"})
    assert bad.status_code == 422 and "Input should be a valid date" in field_error(bad, "calendar", "holidays")
    assert field_value(bad, "calendar", "mon") == "9-17" and "2026-13-01 Nowhere</textarea>" in bad.text
    hours = await web.post(f"{PAGE}/calendars/{slug}", data={"csrf_token": csrf, "name": "Lisbon office",
                                                             "time_zone": "Europe/Lisbon", "mon": "9-17"})
    assert hours.status_code == 422 and "Business hours are written HH:MM, not &#39;9&#39;" in hours.text
    saved = await web.post(f"{PAGE}/calendars/{slug}", data={"csrf_token": csrf, "name": "Lisbon HQ",
                                                             "time_zone": "Europe/Lisbon", "tue": "08:00-16:00"})
    assert saved.status_code == 303
    changed = await _calendar(conn, slug)
    assert (changed.name, changed.hours, changed.holidays) == ("Lisbon HQ", {"tue": [["08:00", "16:00"]]}, [])  # type: ignore[union-attr]

    bound = await web.post(f"{PAGE}/team-calendar", data={"csrf_token": csrf, "team": team, "calendar": slug})
    assert bound.status_code == 303 and (await _calendar(conn, slug)).teams == [team]  # type: ignore[union-attr]


async def test_agents_get_403_and_a_post_without_csrf_is_refused(
        web: httpx.AsyncClient, conn: psycopg.AsyncConnection, web_settings: Settings, make_actor, make_team) -> None:
    team = await make_team()
    body = {"name": f"Nope {team}", "priority": "1", "team": team, "respond_minutes": "5", "resolve_minutes": "60"}
    await signed_in(web, conn, web_settings, make_actor)
    assert (await web.post(f"{PAGE}/policies", data=body)).status_code == 403
    agent_csrf = await signed_in(web, conn, web_settings, make_actor, Role.agent)
    assert (await web.get(PAGE)).status_code == 403
    assert (await web.post(f"{PAGE}/policies", data=body | {"csrf_token": agent_csrf})).status_code == 403
    assert await _policy(conn, team) is None
