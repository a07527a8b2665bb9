"""Helpers of the console tests: an agent of a fresh team signed in, and tickets of that team."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import psycopg
from signin_support import csrf_of, sign_in

from api.auth import service as people
from api.auth.models import Principal, Role
from api.settings import Settings
from api.tickets import service as tickets
from api.tickets.models import Ticket, TicketCreate


@dataclass
class Desk:
    agent: Principal
    employee_id: int
    team: str
    csrf: str


async def signed_in_agent(web: httpx.AsyncClient, conn: psycopg.AsyncConnection, settings: Settings, make_actor,
                          make_team) -> Desk:
    team = await make_team()
    agent = await make_actor(Role.agent, teams=(team,))
    employee = await make_actor(Role.employee)
    await sign_in(web, conn, settings, user_id=agent.user.id)
    page = await web.get("/console")
    assert page.status_code == 200, page.text
    principal = await people.principal_by_id(conn, user_id=agent.user.id)  # type: ignore[arg-type]
    return Desk(agent=principal, employee_id=employee.user.id, team=team, csrf=csrf_of(page))


async def team_ticket(conn: psycopg.AsyncConnection, desk: Desk, title: str, description: str = "") -> Ticket:
    ticket, _ = await tickets.create(conn, principal=desk.agent, data=TicketCreate(  # type: ignore[arg-type]
        title=title, description=description, team=desk.team, requester_id=desk.employee_id))
    return ticket
