"""Routing feedback is scoped like tickets: agents see the feedback of tickets they may see, admins all."""

from __future__ import annotations

import uuid

from fakes.triage import drain, worker_settings

from api.auth.models import Role
from api.routing import rules
from api.routing.models import RuleIn


async def test_feedback_follows_the_ticket_visibility_rule(client, conn, make_actor, make_team, settings):
    home, elsewhere, word = await make_team(), await make_team(), f"fb{uuid.uuid4().hex[:8]}"
    agent = await make_actor(Role.agent, teams=(home,), capacity=5)
    colleague = await make_actor(Role.agent, teams=(home,), capacity=5)
    outsider = await make_actor(Role.agent, teams=(elsewhere,))
    admin = await make_actor(Role.admin)
    rule = await rules.create_rule(conn, data=RuleIn(name=f"fb {word}", position=1, team=home,
                                                     conditions={"keywords": [word]}))
    try:
        employee = await make_actor()
        ticket = (await client.post("/api/v1/tickets", json={"title": f"{word} scanner jams"},
                                    headers=employee.headers)).json()
        await drain(worker_settings(settings), queues=["triage"])
        routed = (await client.get(f"/api/v1/tickets/{ticket['id']}", headers=agent.headers)).json()
        other = colleague if routed["assignee_id"] == agent.user.id else agent
        await client.post(f"/api/v1/tickets/{ticket['id']}/assign", json={"assignee_id": other.user.id},
                          headers=admin.headers)
        await drain(worker_settings(settings), queues=["triage"])
    finally:
        await rules.delete_rule(conn, rule_id=rule.id)

    def tickets_in(response):
        assert response.status_code == 200, response.text
        return {f["ticket_id"] for f in response.json()}

    everything = await client.get("/api/v1/routing/feedback", params={"limit": 500}, headers=admin.headers)
    assert ticket["id"] in tickets_in(everything)
    mine = await client.get("/api/v1/routing/feedback", params={"limit": 500}, headers=agent.headers)
    assert ticket["id"] in tickets_in(mine)
    theirs = await client.get("/api/v1/routing/feedback", params={"limit": 500}, headers=outsider.headers)
    assert ticket["id"] not in tickets_in(theirs)  # another team's ticket: not theirs to see
    one = await client.get("/api/v1/routing/feedback", params={"ticket_id": ticket["id"]}, headers=outsider.headers)
    assert one.status_code == 404
    employee_view = await client.get("/api/v1/routing/feedback", headers=employee.headers)
    assert employee_view.status_code == 403
