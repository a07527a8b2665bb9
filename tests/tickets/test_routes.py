"""Ticket API: create, read, list, update, transition, assign, comment, events, idempotency, bad input."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest

from api.auth.models import Role


async def _create(client, actor, **body):
    payload = {"title": "Laptop will not boot", "description": "black screen after the logo"} | body
    r = await client.post("/api/v1/tickets", json=payload, headers=actor.headers)
    assert r.status_code == 201, r.text
    return r.json()


async def test_create_numbers_by_type_and_computes_priority(client, make_actor):
    employee = await make_actor()
    incident = await _create(client, employee, urgency=1, impact=1, category="hardware")
    request = await _create(client, employee, type="request", urgency=3, impact=2)
    assert incident["number"] == f"INC-{incident['id']:06d}"
    assert request["number"] == f"REQ-{request['id']:06d}"
    assert (incident["priority"], request["priority"]) == (1, 4)
    assert incident["status"] == "new" and incident["requester_id"] == employee.user.id
    assert incident["category"] == "hardware" and incident["source_type"] == "WEB"


@pytest.mark.parametrize(("urgency", "impact", "priority"), [(1, 1, 1), (1, 3, 3), (2, 2, 3), (3, 1, 3), (3, 3, 5)])
async def test_priority_matrix(client, make_actor, urgency, impact, priority):
    ticket = await _create(client, await make_actor(), urgency=urgency, impact=impact)
    assert ticket["priority"] == priority


async def test_get_by_id_and_by_number(client, make_actor):
    employee = await make_actor()
    ticket = await _create(client, employee)
    by_id = await client.get(f"/api/v1/tickets/{ticket['id']}", headers=employee.headers)
    by_number = await client.get(f"/api/v1/tickets/{ticket['number'].lower()}", headers=employee.headers)
    assert by_id.json() == by_number.json() == ticket
    assert by_id.headers["etag"] == '"1"'


async def test_created_event_is_written_with_the_ticket(client, make_actor):
    admin = await make_actor(Role.admin)
    ticket = await _create(client, admin, source_type="CHATBOT", source_reference="conv-1",
                           integration_metadata={"intent": "vpn_problem", "confidence": 0.93})
    events = (await client.get(f"/api/v1/tickets/{ticket['id']}/events", headers=admin.headers)).json()
    assert [e["kind"] for e in events] == ["created"]
    assert events[0]["actor_id"] == admin.user.id
    assert events[0]["after"]["number"] == ticket["number"]
    assert events[0]["after"]["integration_metadata"] == {"intent": "vpn_problem", "confidence": 0.93}


async def test_list_filters_and_cursor_pagination(client, make_actor):
    employee = await make_actor()
    marker = uuid.uuid4().hex[:8]
    created = [await _create(client, employee, title=f"printer jam {marker} {i}", urgency=1 + i % 3)
               for i in range(5)]
    seen, cursor = [], None
    while True:
        params = {"requester": "me", "limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/api/v1/tickets", params=params, headers=employee.headers)).json()
        seen += [t["id"] for t in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted((t["id"] for t in created), reverse=True)
    urgent = (await client.get("/api/v1/tickets", params={"priority": 3, "q": marker},
                               headers=employee.headers)).json()["items"]
    assert {t["id"] for t in urgent} == {t["id"] for t in created if t["priority"] == 3}
    text = (await client.get("/api/v1/tickets", params={"q": f"printer {marker}"}, headers=employee.headers)).json()
    assert len(text["items"]) == 5


async def test_update_recomputes_priority_and_audits(client, make_actor, make_team):
    team = await make_team()
    agent = await make_actor(Role.agent, teams=(team,))
    employee = await make_actor()
    ticket = await _create(client, employee)
    r = await client.patch(f"/api/v1/tickets/{ticket['id']}", json={"urgency": 1, "impact": 1, "team": team},
                           headers=agent.headers)
    assert r.status_code == 403  # visible (unassigned) but not the agent's team: take it first
    r = await client.post(f"/api/v1/tickets/{ticket['id']}/assign", json={"assignee_id": agent.user.id},
                          headers=agent.headers)
    assert r.status_code == 200, r.text
    r = await client.patch(f"/api/v1/tickets/{ticket['id']}", json={"urgency": 1, "impact": 1},
                           headers=agent.headers | {"If-Match": '"2"'})
    assert r.status_code == 200, r.text
    assert r.json()["priority"] == 1 and r.json()["version"] == 3
    stale = await client.patch(f"/api/v1/tickets/{ticket['id']}", json={"urgency": 2},
                               headers=agent.headers | {"If-Match": '"2"'})
    assert stale.status_code == 412
    events = (await client.get(f"/api/v1/tickets/{ticket['id']}/events", headers=agent.headers)).json()
    assert [e["kind"] for e in events] == ["created", "assigned", "updated"]
    assert events[-1]["before"] == {"urgency": 3, "impact": 3, "priority": 5}
    assert events[-1]["after"] == {"urgency": 1, "impact": 1, "priority": 1}


async def _assigned(client, make_actor, make_team):
    team = await make_team()
    agent = await make_actor(Role.agent, teams=(team,))
    employee = await make_actor()
    ticket = await _create(client, employee, team=None)
    r = await client.post(f"/api/v1/tickets/{ticket['id']}/assign",
                          json={"assignee_id": agent.user.id, "team": team}, headers=agent.headers)
    assert r.status_code == 200 and r.json()["status"] == "assigned", r.text
    return ticket, agent, employee


async def test_lifecycle_through_the_transition_table(client, make_actor, make_team):
    ticket, agent, employee = await _assigned(client, make_actor, make_team)
    url = f"/api/v1/tickets/{ticket['id']}/transition"
    for status in ("in_progress", "pending", "in_progress", "resolved"):
        r = await client.post(url, json={"status": status}, headers=agent.headers)
        assert r.status_code == 200 and r.json()["status"] == status, r.text
    assert r.json()["resolved_at"] is not None
    reopened = await client.post(url, json={"status": "in_progress", "reason": "still broken"}, headers=employee.headers)
    assert reopened.status_code == 200 and reopened.json()["resolved_at"] is None
    await client.post(url, json={"status": "resolved"}, headers=agent.headers)
    closed = await client.post(url, json={"status": "closed"}, headers=employee.headers)
    assert closed.status_code == 200 and closed.json()["closed_at"] is not None
    final = await client.post(url, json={"status": "in_progress"}, headers=agent.headers)
    assert final.status_code == 409
    assert final.headers["content-type"] == "application/problem+json"
    assert "cannot become in_progress" in final.json()["detail"]
    events = (await client.get(f"/api/v1/tickets/{ticket['id']}/events", headers=agent.headers)).json()
    changes = [(e["before"]["status"], e["after"]["status"]) for e in events if e["kind"] == "status_changed"]
    assert changes == [("assigned", "in_progress"), ("in_progress", "pending"), ("pending", "in_progress"),
                       ("in_progress", "resolved"), ("resolved", "in_progress"), ("in_progress", "resolved"),
                       ("resolved", "closed")]
    assert events[-1]["actor_id"] == employee.user.id


async def test_requester_can_cancel_but_not_work_the_ticket(client, make_actor):
    employee = await make_actor()
    ticket = await _create(client, employee)
    url = f"/api/v1/tickets/{ticket['id']}/transition"
    assert (await client.post(url, json={"status": "resolved"}, headers=employee.headers)).status_code == 403
    r = await client.post(url, json={"status": "cancelled", "reason": "fixed itself"}, headers=employee.headers)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"


async def test_cannot_start_work_on_an_unassigned_ticket(client, make_actor):
    admin = await make_actor(Role.admin)
    ticket = await _create(client, admin)
    r = await client.post(f"/api/v1/tickets/{ticket['id']}/transition", json={"status": "in_progress"},
                          headers=admin.headers)
    assert r.status_code == 409 and "Assign the ticket" in r.json()["detail"]


async def test_expected_status_guards_stale_clients(client, make_actor, make_team):
    ticket, agent, _ = await _assigned(client, make_actor, make_team)
    r = await client.post(f"/api/v1/tickets/{ticket['id']}/transition",
                          json={"status": "pending", "expected_status": "in_progress"}, headers=agent.headers)
    assert r.status_code == 409 and "is assigned, not in_progress" in r.json()["detail"]


async def test_comments_public_and_internal(client, make_actor, make_team):
    ticket, agent, employee = await _assigned(client, make_actor, make_team)
    url = f"/api/v1/tickets/{ticket['id']}/comments"
    assert (await client.post(url, json={"body": "Any news?"}, headers=employee.headers)).status_code == 201
    assert (await client.post(url, json={"body": "sneaky", "internal": True}, headers=employee.headers)).status_code == 403
    assert (await client.post(url, json={"body": "Check the BIOS", "internal": True}, headers=agent.headers)).status_code == 201
    assert [c["body"] for c in (await client.get(url, headers=employee.headers)).json()] == ["Any news?"]
    assert [c["body"] for c in (await client.get(url, headers=agent.headers)).json()] == ["Any news?", "Check the BIOS"]
    assert (await client.post(url, json={"body": "   "}, headers=agent.headers)).status_code == 422


async def test_idempotency_key_returns_the_same_ticket(client, make_actor):
    employee = await make_actor()
    key = {"Idempotency-Key": uuid.uuid4().hex}
    body = {"title": "Outlook keeps asking for my password"}
    first = await client.post("/api/v1/tickets", json=body, headers=employee.headers | key)
    again = await client.post("/api/v1/tickets", json=body, headers=employee.headers | key)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    other = await client.post("/api/v1/tickets", json=body | {"urgency": 1}, headers=employee.headers | key)
    assert other.status_code == 422 and other.json()["type"] == "/problems/idempotency-mismatch"
    mine = (await client.get("/api/v1/tickets", params={"requester": "me"}, headers=employee.headers)).json()
    assert len(mine["items"]) == 1


@pytest.mark.parametrize("key", ["", "   "])
async def test_an_empty_idempotency_key_is_refused_and_creates_nothing(client, make_actor, key):
    employee = await make_actor()
    r = await client.post("/api/v1/tickets", json={"title": "VPN drops"}, headers=employee.headers | {"Idempotency-Key": key})
    assert r.status_code == 422 and "Idempotency-Key" in r.text
    mine = (await client.get("/api/v1/tickets", params={"requester": "me"}, headers=employee.headers)).json()
    assert mine["items"] == []


async def test_concurrent_requests_with_one_idempotency_key_create_one_ticket(live_server, make_actor):
    import httpx

    employee = await make_actor()
    headers = employee.headers | {"Idempotency-Key": uuid.uuid4().hex}
    async with httpx.AsyncClient(base_url=live_server) as http:
        results = await asyncio.gather(*[
            http.post("/api/v1/tickets", json={"title": "Monitor flickers"}, headers=headers) for _ in range(8)])
        assert {r.status_code for r in results} == {201}
        assert len({r.json()["id"] for r in results}) == 1
        mine = (await http.get("/api/v1/tickets", params={"requester": "me"}, headers=employee.headers)).json()
    assert len(mine["items"]) == 1


async def test_concurrent_transitions_have_one_winner(live_server, make_actor, make_team):
    import httpx

    team = await make_team()
    agent = await make_actor(Role.agent, teams=(team,))
    async with httpx.AsyncClient(base_url=live_server, headers=agent.headers) as http:
        ticket = (await http.post("/api/v1/tickets", json={"title": "Disk full", "team": team})).json()
        await http.post(f"/api/v1/tickets/{ticket['id']}/assign", json={"assignee_id": agent.user.id})
        targets = ["in_progress", "pending", "resolved", "cancelled"] * 3
        results = await asyncio.gather(*[
            http.post(f"/api/v1/tickets/{ticket['id']}/transition",
                      json={"status": s, "expected_status": "assigned"}) for s in targets])
        winners = [r for r in results if r.status_code == 200]
        assert len(winners) == 1 and {r.status_code for r in results} == {200, 409}
        final = (await http.get(f"/api/v1/tickets/{ticket['id']}")).json()
        events = (await http.get(f"/api/v1/tickets/{ticket['id']}/events")).json()
    changes = [e for e in events if e["kind"] == "status_changed"]
    assert len(changes) == 1
    assert changes[0]["after"]["status"] == final["status"] == winners[0].json()["status"]
    assert final["version"] == 3  # created, assigned, one transition


@pytest.mark.parametrize(("body", "where"), [
    ({"title": ""}, "body.title"),
    ({"title": "x" * 201}, "body.title"),
    ({"title": "ok", "urgency": 0}, "body.urgency"),
    ({"title": "ok", "impact": "high"}, "body.impact"),
    ({"title": "ok", "source_type": "FAX"}, "body.source_type"),
    ({"title": "ok", "colour": "red"}, "body.colour"),
    ({"description": "no title"}, "body.title"),
])
async def test_bad_input_gets_a_problem_that_names_the_field(client, make_actor, body, where):
    employee = await make_actor()
    r = await client.post("/api/v1/tickets", json=body, headers=employee.headers)
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    assert where in r.json()["detail"]


async def test_unknown_category_malformed_json_and_oversized_body(client, make_actor):
    employee = await make_actor()
    r = await client.post("/api/v1/tickets", json={"title": "x", "category": "nope"}, headers=employee.headers)
    assert r.status_code == 422 and "Unknown category 'nope'" in r.json()["detail"]
    r = await client.post("/api/v1/tickets", content=b'{"title": ', headers=employee.headers | {"content-type": "application/json"})
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    big = {"title": "big", "description": "x" * 70_000}
    r = await client.post("/api/v1/tickets", json=big, headers=employee.headers)
    assert r.status_code == 413 and r.headers["content-type"] == "application/problem+json"
    r = await client.get("/api/v1/tickets", params={"cursor": "garbage!"}, headers=employee.headers)
    assert r.status_code == 422 and "cursor" in r.json()["detail"]
    mine = (await client.get("/api/v1/tickets", params={"requester": "me"}, headers=employee.headers)).json()
    assert mine["items"] == []


async def test_comments_and_events_come_in_pages(client, make_actor, make_team):
    ticket, agent, _ = await _assigned(client, make_actor, make_team)
    url = f"/api/v1/tickets/{ticket['id']}/comments"
    for i in range(5):
        assert (await client.post(url, json={"body": f"note {i}"}, headers=agent.headers)).status_code == 201
    for what, expected in (("comments", [f"note {i}" for i in range(5)]), ("events", None)):
        seen, next_url = [], f"/api/v1/tickets/{ticket['id']}/{what}?limit=2"
        while next_url:
            r = await client.get(next_url, headers=agent.headers)
            assert r.status_code == 200 and len(r.json()) <= 2
            seen += r.json()
            link = r.headers.get("link")
            next_url = link[1:link.index(">")] if link else None
            assert link is None or link.endswith('; rel="next"')
        everything = (await client.get(f"/api/v1/tickets/{ticket['id']}/{what}?limit=500", headers=agent.headers)).json()
        assert [x["id"] for x in seen] == [x["id"] for x in everything] == sorted(x["id"] for x in everything)
        if expected:
            assert [c["body"] for c in seen] == expected
    assert len(everything) >= 7  # created, assigned, five comments
    r = await client.get(url, params={"cursor": "garbage!"}, headers=agent.headers)
    assert r.status_code == 422 and "cursor" in r.json()["detail"]


@pytest.mark.parametrize("text", ["\ud800", "a\udfffb", "nul\x00byte"])
async def test_text_postgres_cannot_store_is_refused_everywhere(client, make_actor, text):
    employee = await make_actor()
    body = json.dumps({"title": "fine", "description": text})  # json escapes them as \\ud800 / \\u0000
    r = await client.post("/api/v1/tickets", content=body, headers=employee.headers | {"content-type": "application/json"})
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert "cannot be stored" in r.json()["detail"]
    nested = json.dumps({"title": "fine", "integration_metadata": {"k": [text]}})
    r = await client.post("/api/v1/tickets", content=nested, headers=employee.headers | {"content-type": "application/json"})
    assert r.status_code == 422
    if "\x00" in text:
        r = await client.get("/api/v1/tickets", params={"q": text}, headers=employee.headers)
        assert r.status_code == 422
        assert (await client.get("/api/v1/tickets/INC%00", headers=employee.headers)).status_code == 422
    paired = await client.post("/api/v1/tickets", json={"title": "emoji \U0001F600 is fine"}, headers=employee.headers)
    assert paired.status_code == 201 and paired.json()["title"] == "emoji \U0001F600 is fine"


async def test_values_postgres_refuses_are_a_422_not_a_500(client, make_actor):
    admin = await make_actor(Role.admin)
    r = await client.post("/api/v1/tickets", json={"title": "for a ghost", "requester_id": 987_654_321},
                          headers=admin.headers)
    assert r.status_code == 422 and "No user 987654321" in r.json()["detail"]
    r = await client.get("/api/v1/tickets", params={"team_id": 2**70}, headers=admin.headers)
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
