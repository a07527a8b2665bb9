"""The role matrix: every /api/v1 endpoint of the foundation and the staff-wide views, walked as every role.

For each (role, endpoint) the expected status is stated explicitly; a change in who may do what
fails here. Tickets are set up so that each role's relation to them is known:
``own`` was opened by the employee, ``team`` belongs to the agent's team, ``other`` belongs to
another team and is assigned to another agent.
"""

from __future__ import annotations

import uuid

import pytest

from api.auth.models import Role

E, A, D = "employee", "agent", "admin"

# (method, path template, body, {role: expected status})
MATRIX = [
    ("GET", "/api/v1/me", None, {E: 200, A: 200, D: 200}),
    ("GET", "/api/v1/users", None, {E: 403, A: 200, D: 200}),
    ("POST", "/api/v1/users", lambda: {"email": f"new-{uuid.uuid4().hex[:6]}@example.com", "name": "N"},
     {E: 403, A: 403, D: 201}),
    ("GET", "/api/v1/users/{agent_id}/skills", None, {E: 403, A: 200, D: 200}),
    ("PUT", "/api/v1/users/{agent_id}/skills", {"skill": "vpn", "level": 3}, {E: 403, A: 403, D: 200}),
    ("GET", "/api/v1/teams", None, {E: 403, A: 200, D: 200}),
    ("POST", "/api/v1/teams", lambda: {"slug": f"t-{uuid.uuid4().hex[:6]}", "name": "T"}, {E: 403, A: 403, D: 201}),
    ("PUT", "/api/v1/teams/{team}/members/{agent_id}", None, {E: 403, A: 403, D: 204}),
    ("GET", "/api/v1/categories", None, {E: 200, A: 200, D: 200}),
    ("POST", "/api/v1/categories", lambda: {"slug": f"c-{uuid.uuid4().hex[:6]}", "name": "C"}, {E: 403, A: 403, D: 201}),
    ("POST", "/api/v1/tickets", {"title": "Matrix"}, {E: 201, A: 201, D: 201}),
    ("POST", "/api/v1/tickets", {"title": "For someone", "requester_id": "{someone_id}"}, {E: 403, A: 201, D: 201}),
    ("GET", "/api/v1/tickets", None, {E: 200, A: 200, D: 200}),
    ("GET", "/api/v1/tickets/{own}", None, {E: 200, A: 404, D: 200}),
    ("GET", "/api/v1/tickets/{team}", None, {E: 404, A: 200, D: 200}),
    ("GET", "/api/v1/tickets/{other}", None, {E: 404, A: 404, D: 200}),
    ("PATCH", "/api/v1/tickets/{own}", {"title": "Renamed"}, {E: 200, A: 404, D: 200}),
    ("PATCH", "/api/v1/tickets/{own}", {"urgency": 1}, {E: 403, A: 404, D: 200}),
    ("PATCH", "/api/v1/tickets/{team}", {"urgency": 2}, {E: 404, A: 200, D: 200}),
    ("PATCH", "/api/v1/tickets/{other}", {"urgency": 2}, {E: 404, A: 404, D: 200}),
    ("POST", "/api/v1/tickets/{team}/assign", {"assignee_id": "{agent_id}"}, {E: 404, A: 200, D: 200}),
    ("POST", "/api/v1/tickets/{other}/assign", {"assignee_id": "{agent_id}"}, {E: 404, A: 404, D: 200}),
    ("POST", "/api/v1/tickets/{unassigned}/assign", {"assignee_id": "{agent_id}"}, {E: 404, A: 200, D: 200}),
    ("POST", "/api/v1/tickets/{own}/assign", {"assignee_id": "{agent_id}"}, {E: 403, A: 404, D: 200}),
    ("POST", "/api/v1/tickets/{own}/transition", {"status": "cancelled"}, {E: 200, A: 404, D: 200}),
    ("POST", "/api/v1/tickets/{team}/transition", {"status": "pending"}, {E: 404, A: 200, D: 200}),
    ("POST", "/api/v1/tickets/{other}/transition", {"status": "pending"}, {E: 404, A: 404, D: 200}),
    ("POST", "/api/v1/tickets/{own}/comments", {"body": "hello"}, {E: 201, A: 404, D: 201}),
    ("POST", "/api/v1/tickets/{own}/comments", {"body": "note", "internal": True}, {E: 403, A: 404, D: 201}),
    ("POST", "/api/v1/tickets/{team}/comments", {"body": "note", "internal": True}, {E: 404, A: 201, D: 201}),
    ("GET", "/api/v1/tickets/{own}/comments", None, {E: 200, A: 404, D: 200}),
    ("GET", "/api/v1/tickets/{team}/comments", None, {E: 404, A: 200, D: 200}),
    ("GET", "/api/v1/tickets/{own}/events", None, {E: 403, A: 404, D: 200}),
    ("GET", "/api/v1/tickets/{team}/events", None, {E: 404, A: 200, D: 200}),
    ("GET", "/api/v1/tickets/{other}/events", None, {E: 404, A: 404, D: 200}),
    # staff-wide views: employees never, agents scoped to what their teams may see (tests in their domains)
    ("GET", "/api/v1/kb/trends", None, {E: 403, A: 200, D: 200}),
    ("GET", "/api/v1/alerts/history", None, {E: 403, A: 200, D: 200}),
    ("GET", "/api/v1/alerts/history?ticket_id={other}", None, {E: 403, A: 200, D: 200}),
    ("GET", "/api/v1/routing/feedback", None, {E: 403, A: 200, D: 200}),
    ("GET", "/api/v1/routing/feedback?ticket_id={other}", None, {E: 403, A: 404, D: 200}),
]
CASES = [(role, m, p, b, exp[role]) for m, p, b, exp in MATRIX for role in (E, A, D)]


@pytest.fixture
async def world(client, make_actor, make_team):
    """One employee, one agent in ``team``, a second agent in ``elsewhere``, an admin, and tickets."""
    team, elsewhere = await make_team(), await make_team()
    actors = {E: await make_actor(Role.employee), A: await make_actor(Role.agent, teams=(team,)),
              D: await make_actor(Role.admin)}
    other_agent = await make_actor(Role.agent, teams=(elsewhere,))
    admin = actors[D].headers

    async def ticket(requester, team_slug=None, assignee=None) -> int:
        body = {"title": "setup", "requester_id": requester, "team": team_slug}
        t = (await client.post("/api/v1/tickets", json=body, headers=admin)).json()
        if assignee:
            r = await client.post(f"/api/v1/tickets/{t['id']}/assign", json={"assignee_id": assignee}, headers=admin)
            assert r.status_code == 200
        return int(t["id"])

    employee_id, agent_id = actors[E].user.id, actors[A].user.id
    ids = {
        "own": await ticket(employee_id),
        "team": await ticket(actors[D].user.id, team, agent_id),
        "other": await ticket(actors[D].user.id, elsewhere, other_agent.user.id),
        "unassigned": await ticket(actors[D].user.id, elsewhere),
    }
    # 'own' must be invisible to the agent: give it to another team's agent.
    await client.post(f"/api/v1/tickets/{ids['own']}/assign", json={"assignee_id": other_agent.user.id}, headers=admin)
    return actors, {**ids, "employee_id": employee_id, "agent_id": agent_id, "someone_id": other_agent.user.id, "team": ids["team"], "team_slug": team}


def _fill(value, names):
    if callable(value):
        value = value()
    if isinstance(value, dict):
        return {k: _fill(v, names) for k, v in value.items()}
    if isinstance(value, str) and value.startswith("{") and value.endswith("}"):
        return names[value[1:-1]]
    return value


@pytest.mark.parametrize(("role", "method", "path", "body", "expected"), CASES,
                         ids=[f"{c[0]}-{c[1]}-{c[2]}-{i}" for i, c in enumerate(CASES)])
async def test_role_matrix(client, world, role, method, path, body, expected):
    actors, names = world
    url = path.format(**{**names, "team": names["team_slug"] if "/teams/" in path else names["team"]})
    r = await client.request(method, url, json=_fill(body, names), headers=actors[role].headers)
    assert r.status_code == expected, f"{role} {method} {url}: {r.status_code} {r.text}"
    if r.status_code >= 400:
        assert r.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer nope", "Basic dXNlcjpwYXNz", "bearer dm_unknown"])
async def test_every_route_needs_a_valid_token(client, header):
    headers = {"Authorization": header} if header else {}
    for method, path, _, _ in MATRIX:
        url = path.format(own=1, team=1, other=1, unassigned=1, agent_id=1, employee_id=1, someone_id=1)
        r = await client.request(method, url, headers=headers)
        assert r.status_code == 401, f"{method} {url}"


async def test_revoked_token_stops_working(client, conn, make_actor):
    from api.auth import service as people

    actor = await make_actor()
    assert (await client.get("/api/v1/me", headers=actor.headers)).status_code == 200
    assert await people.revoke_tokens(conn, user_id=actor.user.id) == 1
    assert (await client.get("/api/v1/me", headers=actor.headers)).status_code == 401


async def test_service_identity_acts_only_as_an_employee(client, settings, conn, make_actor):
    from api.auth import assertions

    service = await make_actor(Role.service)
    employee, admin = await make_actor(), await make_actor(Role.admin)
    alone = await client.get("/api/v1/tickets", headers=service.headers)
    assert alone.status_code == 403 and "assertion" in alone.json()["detail"]
    conversations = {}
    for who in (employee, admin):
        row = await (await conn.execute(
            "INSERT INTO chat_conversations (id, employee_id, channel) VALUES (gen_random_uuid(), %s, 'web') "
            "RETURNING id", (who.user.id,))).fetchone()
        conversations[who.user.id] = str(row["id"])

    def asserted(who):  # type: ignore[no-untyped-def]
        token = assertions.mint(settings, subject=who.user.email, conversation_id=conversations[who.user.id])
        return service.headers | {"X-Deskmate-Assertion": token}

    as_admin = await client.get("/api/v1/me", headers=asserted(admin))
    assert as_admin.status_code == 403
    on_behalf = asserted(employee)
    me = (await client.get("/api/v1/me", headers=on_behalf)).json()
    assert me["id"] == employee.user.id and me["role"] == "employee" and me["via_service_id"] == service.user.id
    t = (await client.post("/api/v1/tickets", json={"title": "via bot", "source_type": "CHATBOT"}, headers=on_behalf)).json()
    assert t["requester_id"] == employee.user.id
    events = (await client.get(f"/api/v1/tickets/{t['id']}/events", headers=admin.headers)).json()
    assert events[0]["actor_id"] == employee.user.id and events[0]["meta"] == {"via_service_id": service.user.id}
    # X-On-Behalf-Of is refused for every token
    bare = await client.get("/api/v1/me", headers=service.headers | {"X-On-Behalf-Of": employee.user.email})
    assert bare.status_code == 403
    r = await client.get("/api/v1/me", headers=employee.headers | {"X-On-Behalf-Of": admin.user.email})
    assert r.status_code == 403
