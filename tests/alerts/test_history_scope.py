"""The alert history respects team scope (#9 item 4): it carries rendered bodies, so an agent sees only the
alerts of tickets the ticket service lets them see (their teams', their own, unassigned ones); admins see
all; employees none. The role matrix for GET /api/v1/alerts/history."""

from __future__ import annotations

import uuid

from fakes.triage import drain

from api.alerts import service
from api.alerts.models import AlertRuleIn
from api.auth.models import Role
from api.routing import rules as routing
from api.routing.models import RuleIn


async def _routed_ticket(client, conn, make_team, make_actor, settings):
    """A team with an agent, a rule alerting in-app on its tickets, and one ticket routed and assigned there."""
    team, word = await make_team(), f"hs{uuid.uuid4().hex[:8]}"
    agent = await make_actor(Role.agent, teams=(team,))
    await routing.create_rule(conn, data=RuleIn(name=f"to {team}", position=1, team=team,
                                                conditions={"keywords": [word]}))
    rule = await service.create_rule(conn, settings=settings, actor_id=None, data=AlertRuleIn(
        name=f"scope {word}", events=["created"], conditions={"teams": [team]},
        channels=[{"channel": "IN_APP", "recipients": [{"kind": "assignee"}]}]))
    r = await client.post("/api/v1/tickets", json={"title": f"Secret project {word} laptop"},
                          headers=(await make_actor()).headers)
    assert r.status_code == 201
    await drain(settings)
    return r.json(), rule, agent


async def _seen(client, who, **params) -> list[int]:
    r = await client.get("/api/v1/alerts/history", params=params, headers=who.headers)
    assert r.status_code == 200, r.text
    return [f["id"] for f in r.json()["items"]]


async def test_agents_see_only_alerts_of_tickets_their_teams_may_see(client, conn, make_team, make_actor,
                                                                     delivery_settings):
    ticket, rule, member = await _routed_ticket(client, conn, make_team, make_actor, delivery_settings)
    other_team = await make_team()
    outsider = await make_actor(Role.agent, teams=(other_team,))
    admin = await make_actor(Role.admin)

    everything = await _seen(client, admin, rule_id=rule.id)
    assert len(everything) == 1
    assert await _seen(client, member, rule_id=rule.id) == everything
    assert await _seen(client, member, ticket_id=ticket["id"]) == await _seen(client, admin, ticket_id=ticket["id"])
    assert await _seen(client, outsider, rule_id=rule.id) == []
    assert await _seen(client, outsider, ticket_id=ticket["id"]) == []
    assert everything[0] not in await _seen(client, outsider, limit=100)
    r = await client.get("/api/v1/alerts/history", params={"rule_id": rule.id}, headers=(await make_actor()).headers)
    assert r.status_code == 403  # employees: no history at all


async def test_pages_of_an_agent_skip_what_they_may_not_see(client, conn, make_team, make_actor, delivery_settings):
    mine, _, member = await _routed_ticket(client, conn, make_team, make_actor, delivery_settings)
    others = [(await _routed_ticket(client, conn, make_team, make_actor, delivery_settings))[0]["id"]
              for _ in range(3)]  # newer alerts, of other teams' tickets
    paged: list[dict] = []
    cursor = None
    for _ in range(500):
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/api/v1/alerts/history", params=params, headers=member.headers)).json()
        assert len(page["items"]) == 2 or page["next_cursor"] is None  # pages are full until the last
        paged += page["items"]
        if not (cursor := page["next_cursor"]):
            break
    assert mine["id"] in {f["ticket_id"] for f in paged}
    assert not {f["ticket_id"] for f in paged} & set(others)
    assert [f["id"] for f in paged] == sorted((f["id"] for f in paged), reverse=True)
    for ticket_id in {f["ticket_id"] for f in paged}:  # every ticket whose alerts the agent sees, they may open
        assert (await client.get(f"/api/v1/tickets/{ticket_id}", headers=member.headers)).status_code == 200
