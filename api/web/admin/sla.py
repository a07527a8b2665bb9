"""``/console/admin/sla``: SLA policies (list, create, edit, delete), business calendars (hours, holidays, time
zone) and which calendar a team works by; the forms are validated by the API's ``PolicyIn`` and ``CalendarIn``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from api.auth import service as people
from api.auth.deps import AdminUser
from api.auth.models import Principal
from api.db import Conn, ConnDep
from api.errors import NotFound
from api.sla import policies
from api.sla.calendar import WEEKDAYS
from api.sla.models import BusinessCalendar, CalendarIn, Policy, PolicyIn
from api.types import PRIORITY_NAMES
from api.web.admin.forms import Refusal, attempt, back_to, optional, words
from api.web.pages import render

PAGE = "/console/admin/sla"
router = APIRouter(prefix=PAGE, tags=["web"], include_in_schema=False)
DONE = {"created": "SLA policy created.", "saved": "SLA policy saved.", "deleted": "SLA policy deleted.",
        "calendar": "Calendar saved.", "bound": "The team's calendar is set."}
NEW_POLICY = {"priority": "3", "warn_ratio": "0.8"}
NEW_CALENDAR = {"time_zone": "UTC"} | {day: "09:00-17:00" for day in WEEKDAYS[:5]}


def _policy_data(form: FormData) -> dict[str, Any]:
    """The form as the body of POST /sla/policies (PolicyIn)."""
    data = {key: form.get(key, "") for key in ("name", "priority", "respond_minutes", "resolve_minutes", "warn_ratio")}
    return data | {"team": optional(form.get("team"))}


def _calendar_data(form: FormData, slug: str) -> dict[str, Any]:
    """The form as the body of PUT /sla/calendars/{slug} (CalendarIn): ``09:00-12:00, 13:00-17:00`` per weekday,
    one holiday a line (``2026-12-25 Christmas Day``)."""
    hours = {day: [[time.strip() for time in span.split("-", 1)] for span in words(form.get(day))]
             for day in WEEKDAYS if words(form.get(day))}
    lines = [line.strip().split(maxsplit=1) for line in str(form.get("holidays", "")).splitlines() if line.strip()]
    return {"slug": slug, "name": form.get("name", ""), "time_zone": form.get("time_zone", ""), "hours": hours,
            "holidays": [{"day": line[0], "name": line[1] if len(line) > 1 else ""} for line in lines],
            "is_default": form.get("is_default") == "true"}


def _calendar_values(calendar: BusinessCalendar) -> dict[str, Any]:
    return {"name": calendar.name, "time_zone": calendar.time_zone, "is_default": "true" if calendar.is_default else "",
            "holidays": "\n".join(f"{h.day} {h.name}".strip() for h in calendar.holidays)} | {
        day: ", ".join(f"{start}-{end}" for start, end in calendar.hours.get(day, [])) for day in WEEKDAYS}


async def _context(conn: Conn, principal: Principal, **page: Any) -> dict[str, Any]:
    return {"principal": principal, "policies": await policies.list_policies(conn),
            "calendars": await policies.list_calendars(conn), "teams": await people.list_teams(conn),
            "priorities": PRIORITY_NAMES, "weekdays": WEEKDAYS, "values": NEW_POLICY, "errors": {},
            "calendar_values": NEW_CALENDAR, "calendar_errors": {}} | page


async def _policy(conn: Conn, policy_id: int) -> Policy:
    found = await policies.list_policies(conn, policy_id=policy_id)
    if not found:
        raise NotFound(f"No SLA policy {policy_id}.")
    return found[0]


async def _calendar(conn: Conn, slug: str) -> BusinessCalendar:
    found = await policies.list_calendars(conn, slug=slug)
    if not found:
        raise NotFound(f"No calendar {slug!r}.")
    return found[0]


@router.get("")
async def sla_page(request: Request, conn: ConnDep, principal: AdminUser, done: str | None = None) -> Response:
    """Policies and calendars, with the forms of new ones and of a team's calendar."""
    return render(request, "admin/sla.html", await _context(conn, principal, done=DONE.get(done or "")))


@router.post("/policies")
async def create_policy(request: Request, conn: ConnDep, principal: AdminUser) -> Response:
    form = await request.form()
    result = await attempt(lambda: policies.create_policy(conn, data=PolicyIn.model_validate(_policy_data(form))))
    if isinstance(result, Refusal):
        return render(request, "admin/sla.html", await _context(
            conn, principal, values=dict(form), errors=result.errors, error=result.summary), status_code=result.status)
    return back_to(PAGE, "created")


async def _policy_page(request: Request, conn: Conn, principal: Principal, policy: Policy, *, status: int = 200,
                       **page: Any) -> Response:
    context = {"principal": principal, "policy": policy, "values": policy.model_dump(), "errors": {},
               "teams": await people.list_teams(conn), "priorities": PRIORITY_NAMES} | page
    return render(request, "admin/policy.html", context, status_code=status)


@router.get("/policies/{policy_id}")
async def policy_page(policy_id: int, request: Request, conn: ConnDep, principal: AdminUser) -> Response:
    return await _policy_page(request, conn, principal, await _policy(conn, policy_id))


@router.post("/policies/{policy_id}")
async def update_policy(policy_id: int, request: Request, conn: ConnDep, principal: AdminUser) -> Response:
    policy, form = await _policy(conn, policy_id), await request.form()
    result = await attempt(lambda: policies.update_policy(conn, policy_id=policy_id,
                                                          data=PolicyIn.model_validate(_policy_data(form))))
    if isinstance(result, Refusal):
        return await _policy_page(request, conn, principal, policy, values=dict(form), errors=result.errors,
                                  error=result.summary, status=result.status)
    return back_to(PAGE, "saved")


@router.post("/policies/{policy_id}/delete")
async def delete_policy(policy_id: int, conn: ConnDep, _: AdminUser) -> Response:
    await policies.delete_policy(conn, policy_id=policy_id)
    return back_to(PAGE, "deleted")


@router.post("/calendars")
async def create_calendar(request: Request, conn: ConnDep, principal: AdminUser) -> Response:
    """A new calendar (or, with an existing slug, that calendar replaced: PUT /sla/calendars/{slug})."""
    form = await request.form()
    data = _calendar_data(form, str(form.get("slug", "")))
    result = await attempt(lambda: policies.put_calendar(conn, data=CalendarIn.model_validate(data)), nested=("hours",))
    if isinstance(result, Refusal):
        return render(request, "admin/sla.html", await _context(
            conn, principal, calendar_values=dict(form), calendar_errors=result.errors, error=result.summary),
            status_code=result.status)
    return back_to(PAGE, "calendar")


@router.get("/calendars/{slug}")
async def calendar_page(slug: str, request: Request, conn: ConnDep, principal: AdminUser) -> Response:
    calendar = await _calendar(conn, slug)
    return render(request, "admin/calendar.html", {"principal": principal, "calendar": calendar, "weekdays": WEEKDAYS,
                                                   "values": _calendar_values(calendar), "errors": {}})


@router.post("/calendars/{slug}")
async def update_calendar(slug: str, request: Request, conn: ConnDep, principal: AdminUser) -> Response:
    calendar, form = await _calendar(conn, slug), await request.form()
    result = await attempt(lambda: policies.put_calendar(
        conn, slug=slug, data=CalendarIn.model_validate(_calendar_data(form, slug))), nested=("hours",))
    if isinstance(result, Refusal):
        return render(request, "admin/calendar.html", {
            "principal": principal, "calendar": calendar, "weekdays": WEEKDAYS, "values": dict(form),
            "errors": result.errors, "error": result.summary}, status_code=result.status)
    return back_to(PAGE, "calendar")


@router.post("/team-calendar")
async def set_team_calendar(conn: ConnDep, _: AdminUser, team: Annotated[str, Form()],
                            calendar: Annotated[str, Form()]) -> Response:
    """The calendar a team's SLA clocks count business time by (PUT /sla/calendars/{slug}/teams/{team})."""
    await policies.set_team_calendar(conn, team=team, calendar=calendar)
    return back_to(PAGE, "bound")
