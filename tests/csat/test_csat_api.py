"""The CSAT endpoints: the report split by bot and person (agents and admins only) and a ticket's survey."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from csat_support import resolve, send_now, survey_of, widget

from api.auth.models import Role
from api.csat import service as csat
from api.tickets import service as tickets
from api.tickets.models import TicketCreate
from api.types import SourceType
from api.workflows import engine


async def _rated(client, conn, settings, *, team: str, requester, resolver, score: int,
                 resolution: str = "agent") -> dict:
    """A ticket of ``team`` from ``requester``'s widget conversation, resolved by ``resolver`` and rated ``score``."""
    conversation, _ = await widget(client, settings, requester.user.email)
    admin = await engine.system_actor(conn)
    ticket, _ = await tickets.create(conn, principal=admin, data=TicketCreate(
        title="VPN drops", team=team, requester_id=requester.user.id, source_type=SourceType.CHATBOT,
        source_reference=conversation))
    await resolve(conn, resolver, ticket.id, resolution=resolution)
    assert await send_now(conn, settings, ticket.id) == "sent"
    survey = await survey_of(conn, ticket.id)
    reply, _ = await csat.answer_in_chat(conn, survey_id=survey["id"], score=score, employee_id=requester.user.id)
    assert reply.startswith("Thank you")
    return ticket.model_dump()


async def test_the_report_splits_bot_and_person_and_is_for_staff(client, conn, settings, make_actor, make_team,
                                                                 principal_of):
    team = await make_team()
    employee, agent = await make_actor(), await make_actor(Role.agent, teams=(team,))
    person, bot = await principal_of(agent), await engine.system_actor(conn)
    await _rated(client, conn, settings, team=team, requester=employee, resolver=person, score=4)
    await _rated(client, conn, settings, team=team, requester=employee, resolver=person, score=2)
    auto = await _rated(client, conn, settings, team=team, requester=employee, resolver=bot, score=5,
                        resolution="auto")
    since = (datetime.now(UTC) - timedelta(hours=1)).isoformat()

    r = await client.get("/api/v1/csat", params={"team": team, "from": since}, headers=agent.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["person"] == {"asked": 2, "answered": 2, "average": 3.0,
                              "distribution": {"1": 0, "2": 1, "3": 0, "4": 1, "5": 0}}
    assert body["bot"] == {"asked": 1, "answered": 1, "average": 5.0,
                           "distribution": {"1": 0, "2": 0, "3": 0, "4": 0, "5": 1}}
    assert [(a["ticket_number"], a["resolved_by"], a["score"]) for a in body["responses"]][0] == (
        auto["number"], "bot", 5)
    later = await client.get("/api/v1/csat", params={"team": team, "from": datetime.now(UTC).isoformat()},
                             headers=agent.headers)
    assert later.json()["person"]["asked"] == 0

    refused = await client.get("/api/v1/csat", headers=employee.headers)
    assert refused.status_code == 403 and refused.headers["content-type"].startswith("application/problem+json")
    bad = await client.get("/api/v1/csat", params={"team": "Not A Slug"}, headers=agent.headers)
    assert bad.status_code == 422


async def test_a_tickets_survey_is_shown_to_who_can_see_the_ticket(client, conn, settings, make_actor, make_team,
                                                                   principal_of):
    team = await make_team()
    employee, stranger = await make_actor(), await make_actor()
    agent = await make_actor(Role.agent, teams=(team,))
    ticket = await _rated(client, conn, settings, team=team, requester=employee, resolver=await principal_of(agent),
                          score=3)

    for who in (employee, agent):
        r = await client.get(f"/api/v1/tickets/{ticket['number']}/csat", headers=who.headers)
        assert r.status_code == 200, r.text
        assert (r.json()["score"], r.json()["resolved_by"], r.json()["channel"]) == (3, "person", "web")
    assert (await client.get(f"/api/v1/tickets/{ticket['number']}/csat", headers=stranger.headers)).status_code == 404

    r = await client.post("/api/v1/tickets", json={"title": "Not resolved yet"}, headers=employee.headers)
    none = await client.get(f"/api/v1/tickets/{r.json()['number']}/csat", headers=employee.headers)
    assert none.status_code == 404 and "no satisfaction survey" in none.json()["detail"]
