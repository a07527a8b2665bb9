"""SLA endpoints: policies and calendars (admin writes, staff reads), a ticket's clock, a due-time preview."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Response, status

from api.auth.deps import AdminUser, CurrentUser, StaffUser
from api.db import ConnDep
from api.sla import clock, policies
from api.sla.models import BusinessCalendar, CalendarIn, DuePreview, Policy, PolicyIn, TicketSla

router = APIRouter(prefix="/sla", tags=["sla"])


@router.get("/policies")
async def list_policies(conn: ConnDep, _: StaffUser) -> list[Policy]:
    return await policies.list_policies(conn)


@router.post("/policies", status_code=status.HTTP_201_CREATED)
async def create_policy(data: PolicyIn, conn: ConnDep, _: AdminUser, response: Response) -> Policy:
    policy = await policies.create_policy(conn, data=data)
    response.headers["Location"] = f"/api/v1/sla/policies/{policy.id}"
    return policy


@router.put("/policies/{policy_id}")
async def update_policy(policy_id: int, data: PolicyIn, conn: ConnDep, _: AdminUser) -> Policy:
    """New targets apply to clocks as their tickets next change."""
    return await policies.update_policy(conn, policy_id=policy_id, data=data)


@router.delete("/policies/{policy_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_policy(policy_id: int, conn: ConnDep, _: AdminUser) -> None:
    await policies.delete_policy(conn, policy_id=policy_id)


@router.get("/calendars")
async def list_calendars(conn: ConnDep, _: StaffUser) -> list[BusinessCalendar]:
    return await policies.list_calendars(conn)


@router.put("/calendars/{slug}")
async def put_calendar(slug: str, data: CalendarIn, conn: ConnDep, _: AdminUser) -> BusinessCalendar:
    """Creates or replaces a calendar (hours, time zone, holidays)."""
    return await policies.put_calendar(conn, data=data, slug=slug)


@router.put("/calendars/{slug}/teams/{team}", status_code=status.HTTP_204_NO_CONTENT)
async def set_team_calendar(slug: str, team: str, conn: ConnDep, _: AdminUser) -> None:
    await policies.set_team_calendar(conn, team=team, calendar=slug)


@router.post("/calendars/{slug}/due")
async def preview_due(slug: str, data: DuePreview, conn: ConnDep, _: StaffUser) -> dict[str, datetime]:
    """When ``minutes`` business minutes after ``start`` end on this calendar."""
    return {"due_at": await policies.preview_due(conn, slug=slug, start=data.start, minutes=data.minutes)}


@router.get("/tickets/{ref}")
async def ticket_sla(ref: str, conn: ConnDep, principal: CurrentUser) -> TicketSla:
    """The ticket's SLA clock: due times, warnings, breaches, pauses."""
    return await clock.get_ticket_sla(conn, ref=ref, principal=principal)
