"""Routing: every step explained — rules, skills, workload, shifts, round-robin ties, fallback team and
queue — plus auto-assignment on creation, feedback on reassignment, rule CRUD and roles."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time

import pytest
from fakes.triage import drain, worker_settings

from api.auth.models import Role
from api.kb.embedding import get_embedder
from api.routing import engine, shifts
from api.routing import rules as routing_rules
from api.routing.models import Probe, ShiftIn

SHIFT_ELSEWHEN = (datetime.now(UTC).weekday() + 3) % 7  # neither today nor yesterday, in any time zone


def _word() -> str:
    return f"zq{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def rules(client, conn, make_actor):
    """Creates routing rules through the API; deletes them after the test."""
    made: list[int] = []

    async def create(**body) -> dict:
        admin = await make_actor(Role.admin)
        r = await client.post("/api/v1/routing/rules", json={"position": 1} | body, headers=admin.headers)
        assert r.status_code == 201, r.text
        made.append(r.json()["id"])
        return r.json()

    yield create
    for rule_id in made:
        await routing_rules.delete_rule(conn, rule_id=rule_id)


async def _probe(client, actor, **body) -> dict:
    r = await client.post("/api/v1/routing/test", json={"title": "Something is wrong"} | body, headers=actor.headers)
    assert r.status_code == 200, r.text
    return r.json()


async def test_rule_match_names_the_rule_team_and_matched_conditions(client, make_actor, make_team, rules):
    team, word = await make_team(), _word()
    agent = await make_actor(Role.agent, teams=(team,), capacity=5)
    rule = await rules(name=f"Rule {word}", team=team, skill="vpn", conditions={"keywords": [word], "sources": ["WEB"]})
    decision = await _probe(client, agent, title=f"The {word} is broken")
    assert decision["rule_id"] == rule["id"] and decision["team"] == team
    assert decision["reason"] == f"{team} team by rule 'Rule {word}'; Test agent: skill vpn 0, 0 of 5 slots used"
    assert decision["steps"][0] == {"step": "rules", "detail": f"rule 'Rule {word}' matched: source WEB, keyword '{word}'"}
    assert decision["agent_id"] == agent.user.id and decision["confidence"] == 1.0
    other = await _probe(client, agent, title=f"The {word} is broken", source_type="EMAIL")
    assert other["rule_id"] != rule["id"]  # every condition must hold


async def test_rules_are_tried_by_position(client, make_actor, make_team, rules):
    first, second, word = await make_team(), await make_team(), _word()
    agent = await make_actor(Role.agent)
    await rules(name=f"late {word}", position=5, team=second, conditions={"keywords": [word]})
    await rules(name=f"early {word}", position=2, team=first, conditions={"keywords": [word]})
    assert (await _probe(client, agent, title=word))["rule_name"] == f"early {word}"


async def test_skills_decide_between_free_agents(client, make_actor, make_team):
    team = await make_team()
    await make_actor(Role.agent, teams=(team,), skills={"hardware": 2}, capacity=5)
    expert = await make_actor(Role.agent, teams=(team,), skills={"hardware": 5}, capacity=5)
    decision = await _probe(client, expert, team=team, category="hardware")
    assert decision["agent_id"] == expert.user.id
    assert decision["reason"] == f"{team} team as chosen when the ticket was opened; " \
                                 "Test agent: skill hardware 5, 0 of 5 slots used"
    skills = next(s for s in decision["steps"] if s["step"] == "skills")["detail"]
    assert skills == "skill hardware: Test agent 2, Test agent 5"
    assert sorted(c["skill_level"] for c in decision["candidates"]) == [2, 5]


async def test_workload_weighted_by_priority_against_capacity(client, make_actor, make_team):
    team = await make_team()
    busy = await make_actor(Role.agent, teams=(team,), skills={"printing": 4}, capacity=5)
    free = await make_actor(Role.agent, teams=(team,), skills={"printing": 4}, capacity=5)
    admin = await make_actor(Role.admin)
    for urgency, impact in ((1, 1), (2, 2)):  # P1 weighs 2, P3 weighs 1
        t = (await client.post("/api/v1/tickets", json={"title": "x", "urgency": urgency, "impact": impact},
                               headers=admin.headers)).json()
        await client.post(f"/api/v1/tickets/{t['id']}/assign", json={"assignee_id": busy.user.id, "team": team},
                          headers=admin.headers)
    decision = await _probe(client, admin, team=team, category="printing")
    assert decision["agent_id"] == free.user.id
    assert decision["reason"].endswith("Test agent: skill printing 4, 0 of 5 slots used")
    loads = {c["agent_id"]: c["load"] for c in decision["candidates"]}
    assert loads == {busy.user.id: 3.0, free.user.id: 0.0}
    assert "Test agent 3/5" in next(s for s in decision["steps"] if s["step"] == "workload")["detail"]


async def test_agents_off_shift_are_not_candidates(client, make_actor, make_team):
    team = await make_team()
    admin = await make_actor(Role.admin)
    away = await make_actor(Role.agent, teams=(team,), skills={"email": 5}, capacity=5)
    here = await make_actor(Role.agent, teams=(team,), skills={"email": 1}, capacity=5)
    r = await client.put(f"/api/v1/routing/shifts/{away.user.id}", headers=admin.headers, json=[
        {"weekday": SHIFT_ELSEWHEN, "starts": "09:00", "ends": "17:00", "time_zone": "Asia/Tokyo"}])
    assert r.status_code == 200 and r.json()[0]["time_zone"] == "Asia/Tokyo"
    decision = await _probe(client, admin, team=team, category="email")
    assert decision["agent_id"] == here.user.id
    off = next(c for c in decision["candidates"] if c["agent_id"] == away.user.id)
    assert (off["on_shift"], off["eligible"], off["note"]) == (False, False, "off shift")
    assert "(off shift)" in next(s for s in decision["steps"] if s["step"] == "workload")["detail"]


async def test_a_tie_is_broken_round_robin(client, make_actor, make_team, rules):
    team, word = await make_team(), _word()
    one = await make_actor(Role.agent, teams=(team,), capacity=50)
    two = await make_actor(Role.agent, teams=(team,), capacity=50)
    await rules(name=f"rr {word}", team=team, conditions={"keywords": [word]})
    admin = await make_actor(Role.admin)
    chosen = []
    for _ in range(4):
        t = (await client.post("/api/v1/tickets", json={"title": f"{word} again", "urgency": 3, "impact": 3,
                                                        "type": "request"}, headers=admin.headers)).json()
        r = await client.post(f"/api/v1/routing/apply/{t['number']}", headers=admin.headers)
        assert r.status_code == 200, r.text
        chosen.append(r.json()["agent_id"])
        # cancelled tickets are not workload: both agents are equal again for the next one
        await client.post(f"/api/v1/tickets/{t['id']}/transition", json={"status": "cancelled"}, headers=admin.headers)
    assert chosen == [one.user.id, two.user.id, one.user.id, two.user.id]
    assert "round-robin" in r.json()["reason"]
    assert any(s["step"] == "tie" for s in r.json()["steps"])


async def test_nobody_on_shift_goes_to_the_fallback_team(conn, make_actor, make_team, settings):
    team, fallback = await make_team(), await make_team()
    away = await make_actor(Role.agent, teams=(team,), capacity=5)
    night = await make_actor(Role.agent, teams=(fallback,), capacity=5)
    await shifts.replace_shifts(conn, user_id=away.user.id, shifts=[
        ShiftIn(weekday=SHIFT_ELSEWHEN, starts=time(8), ends=time(9))])
    probe = Probe(title="Keyboard missing keys", team=team)
    decision = await engine.dry_run(conn, probe=probe, principal=(await engine.triage_principal(conn)),
                                     settings=settings.model_copy(update={"routing_fallback_team": fallback}),
                                     embedder=get_embedder(settings))
    assert (decision.team, decision.agent_id) == (fallback, night.user.id)
    assert decision.reason.startswith(f"{fallback} team as the fallback ({team} has nobody on shift;")
    assert [s.detail for s in decision.steps if s.step == "fallback"] == [f"nobody on shift in {team}; trying {fallback}"]
    alone = await engine.dry_run(conn, probe=probe, principal=(await engine.triage_principal(conn)),
                                  settings=settings.model_copy(update={"routing_fallback_team": None}),
                                  embedder=get_embedder(settings))
    assert (alone.team, alone.agent_id) == (team, None)
    assert alone.reason.endswith("left in the team queue: nobody is on shift")


async def test_a_full_team_keeps_the_ticket_in_its_queue(client, make_actor, make_team):
    team = await make_team()
    agent = await make_actor(Role.agent, teams=(team,), capacity=1)
    admin = await make_actor(Role.admin)
    t = (await client.post("/api/v1/tickets", json={"title": "x", "urgency": 2, "impact": 2}, headers=admin.headers)).json()
    await client.post(f"/api/v1/tickets/{t['id']}/assign", json={"assignee_id": agent.user.id}, headers=admin.headers)
    decision = await _probe(client, admin, team=team)
    assert decision["team"] == team and decision["agent_id"] is None
    assert decision["reason"] == f"{team} team as chosen when the ticket was opened; " \
                                 "left in the team queue: everyone on shift is at capacity"
    assert decision["candidates"][0]["note"] == "no free slot"
    assert decision["steps"][-1] == {"step": "queue", "detail": f"{team} queue: everyone on shift is at capacity"}


async def test_new_tickets_are_assigned_through_the_ticket_service_with_the_reason(
        client, conn, make_actor, make_team, rules, settings):
    team, word = await make_team(), _word()
    agent = await make_actor(Role.agent, teams=(team,), skills={"vpn": 3}, capacity=5)
    other = await make_actor(Role.agent, teams=(team,), capacity=5)
    rule = await rules(name=f"VPN {word}", team=team, skill="vpn", conditions={"keywords": [word]})
    employee = await make_actor()
    ticket = (await client.post("/api/v1/tickets", json={"title": f"{word} tunnel drops"},
                                headers=employee.headers)).json()
    await drain(worker_settings(settings), queues=["triage"])
    ticket = (await client.get(f"/api/v1/tickets/{ticket['id']}", headers=agent.headers)).json()
    assert (ticket["team"], ticket["assignee_id"], ticket["status"]) == (team, agent.user.id, "assigned")
    events = (await client.get(f"/api/v1/tickets/{ticket['id']}/events", headers=agent.headers)).json()
    assigned = next(e for e in events if e["kind"] == "assigned")
    triage = await engine.triage_principal(conn)
    assert assigned["actor_id"] == triage.id
    assert assigned["meta"]["reason"] == f"{team} team by rule 'VPN {word}'; Test agent: skill vpn 3, 0 of 5 slots used"
    decisions = (await client.get("/api/v1/routing/decisions", params={"ticket_id": ticket["id"]},
                                  headers=agent.headers)).json()
    assert decisions[0]["id"] == assigned["meta"]["routing_decision_id"] and decisions[0]["rule_id"] == rule["id"]

    admin = await make_actor(Role.admin)
    await client.post(f"/api/v1/tickets/{ticket['id']}/assign", json={"assignee_id": other.user.id},
                      headers=admin.headers)
    await drain(worker_settings(settings), queues=["triage"])
    feedback = (await client.get("/api/v1/routing/feedback", params={"ticket_id": ticket["id"]},
                                 headers=agent.headers)).json()
    assert [(f["kind"], f["decision_id"], f["actor_id"]) for f in feedback] == [
        ("reassigned", decisions[0]["id"], admin.user.id)]
    assert feedback[0]["before"]["assignee_id"] == agent.user.id and feedback[0]["after"]["assignee_id"] == other.user.id


async def test_rule_crud_validation_and_roles(client, make_actor, make_team):
    admin, agent, employee = await make_actor(Role.admin), await make_actor(Role.agent), await make_actor()
    team, name = await make_team(), f"crud {_word()}"
    body = {"name": name, "team": team, "conditions": {"priorities": [1], "vip": True}}
    assert (await client.post("/api/v1/routing/rules", json=body, headers=agent.headers)).status_code == 403
    created = await client.post("/api/v1/routing/rules", json=body, headers=admin.headers)
    assert created.status_code == 201 and created.headers["location"].endswith(str(created.json()["id"]))
    rule_url = f"/api/v1/routing/rules/{created.json()['id']}"
    assert (await client.post("/api/v1/routing/rules", json=body, headers=admin.headers)).status_code == 409
    assert (await client.get(rule_url, headers=agent.headers)).json()["conditions"]["vip"] is True
    assert (await client.get(rule_url, headers=employee.headers)).status_code == 403
    bad = await client.put(rule_url, json=body | {"team": "no-such-team"}, headers=admin.headers)
    assert bad.status_code == 422 and "Unknown team" in bad.json()["detail"]
    odd = await client.put(rule_url, json=body | {"conditions": {"colour": ["red"]}}, headers=admin.headers)
    assert odd.status_code == 422
    updated = await client.put(rule_url, json=body | {"enabled": False, "position": 7}, headers=admin.headers)
    assert (updated.json()["enabled"], updated.json()["position"]) == (False, 7)
    assert (await client.delete(rule_url, headers=admin.headers)).status_code == 204
    assert (await client.get(rule_url, headers=admin.headers)).status_code == 404
    assert (await client.post("/api/v1/routing/test", json={"title": "x"}, headers=employee.headers)).status_code == 403
    t = (await client.post("/api/v1/tickets", json={"title": "mine"}, headers=employee.headers)).json()
    assert (await client.post(f"/api/v1/routing/apply/{t['id']}", headers=employee.headers)).status_code == 403
    assert (await client.post(f"/api/v1/routing/apply/{t['id']}", headers=agent.headers)).status_code == 403
