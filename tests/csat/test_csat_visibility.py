"""Who sees which satisfaction answers: the figures are every team's for all staff (as all analytics are), the
answers themselves — a ticket's score and comment — only for the tickets the caller may see (docs/analytics.md)."""

from __future__ import annotations

from api.auth.models import Role
from api.tickets import service as tickets
from api.tickets.models import Assignment, TicketCreate


async def _rated_ticket(conn, principal_of, *, team: str, agent, requester_id: int, comment: str) -> str:
    """A ticket of ``team`` assigned to its ``agent``, with an answered survey carrying ``comment``."""
    by = await principal_of(agent)
    ticket, _ = await tickets.create(conn, principal=by, data=TicketCreate(
        title="Printer jams", team=team, requester_id=requester_id))
    await tickets.assign(conn, principal=by, ref=ticket.id, data=Assignment(assignee_id=by.id))
    await conn.execute(
        "INSERT INTO csat_surveys (ticket_id, requester_id, resolved_by, resolver_id, status, channel, asked_at, "
        "answered_at, score, comment) VALUES (%s, %s, 'person', %s, 'sent', 'web', now(), now(), 2, %s)",
        (ticket.id, requester_id, by.id, comment))
    return ticket.number


async def test_an_agent_sees_every_teams_figures_but_only_the_answers_of_tickets_they_may_see(
        client, conn, make_actor, make_team, principal_of) -> None:
    team_a, team_b = await make_team(), await make_team()
    agent_a, agent_b = await make_actor(Role.agent, teams=(team_a,)), await make_actor(Role.agent, teams=(team_b,))
    admin, employee = await make_actor(Role.admin), await make_actor(Role.employee)
    number = await _rated_ticket(conn, principal_of, team=team_b, agent=agent_b, requester_id=employee.user.id,
                                 comment="The agent was rude")

    def answers(body: dict) -> list[tuple[str, str]]:
        return [(a["ticket_number"], a["comment"]) for a in body["responses"]]

    seen = {}
    for who, actor in (("a", agent_a), ("b", agent_b), ("admin", admin)):
        r = await client.get("/api/v1/csat", params={"team": team_b}, headers=actor.headers)
        assert r.status_code == 200, r.text
        seen[who] = r.json()
        assert seen[who]["person"]["answered"] == 1 and seen[who]["person"]["distribution"]["2"] == 1
    assert answers(seen["b"]) == answers(seen["admin"]) == [(number, "The agent was rude")]
    assert answers(seen["a"]) == []

    figures = await client.get("/api/v1/analytics/csat", params={"team": team_b}, headers=agent_a.headers)
    assert figures.status_code == 200 and figures.json()["data"]["person"]["answered"] == 1
    assert "rude" not in figures.text
    table = await client.get("/api/v1/analytics/csat.csv", params={"team": team_b}, headers=agent_a.headers)
    assert table.status_code == 200 and "rude" not in table.text
