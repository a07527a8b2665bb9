"""SLA clocks: due times on the ticket, first response, pause while pending, warnings and breaches raised
once by jobs, and the alert a breach triggers."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from fakes.triage import drain, worker_settings

from api.alerts import service as alerts
from api.alerts.models import AlertRuleIn
from api.auth.models import Role
from api.routing import engine, rules
from api.routing.models import RuleIn
from api.sla import clock as sla
from api.sla import policies
from api.sla.calendar import Calendar
from api.sla.models import CalendarIn, PolicyIn

BERLIN = ZoneInfo("Europe/Berlin")
OFFICE = Calendar.from_spec("Europe/Berlin", {d: [["09:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")})


def _clock(started: datetime) -> dict:
    return {"started_at": started, "respond_target_s": 2 * 3600, "resolve_target_s": 8 * 3600, "warn_ratio": 0.8,
            "paused_at": None, "paused_business_s": 0.0, "responded_at": None, "resolved_at": None,
            "respond_warn_at": None, "resolve_warn_at": None, "respond_warned_at": None, "respond_breached_at": None,
            "resolve_warned_at": None, "resolve_breached_at": None, "generation": 0}


def _event(kind: str, at: datetime, actor: int, before: dict | None = None, after: dict | None = None) -> dict:
    return {"kind": kind, "created_at": at, "actor_id": actor, "before": before, "after": after}


def test_pending_pauses_the_clock_and_the_paused_business_time_is_added_back():
    start = datetime(2026, 11, 30, 9, 0, tzinfo=BERLIN)  # Monday
    clock, ticket = _clock(start), {"requester_id": 7}
    due = sla._thresholds(clock, OFFICE)
    assert due["resolve_due_at"] == datetime(2026, 11, 30, 17, 0, tzinfo=BERLIN)
    assert due["respond_warn_at"] == datetime(2026, 11, 30, 10, 36, tzinfo=BERLIN)  # 80 % of 2 h
    sla._move(clock, _event("status_changed", start + timedelta(hours=1), 42, {"status": "assigned"},
                            {"status": "pending"}), ticket, OFFICE, system_id=1)
    assert clock["responded_at"] == start + timedelta(hours=1)  # an agent moving it counts as the response
    assert clock["paused_at"] == start + timedelta(hours=1)
    assert sla.next_threshold(clock, due) is None  # no timers while paused
    resumed = datetime(2026, 12, 1, 10, 0, tzinfo=BERLIN)  # Tuesday 10:00: Mon 10-17 and Tue 9-10 paused
    sla._move(clock, _event("status_changed", resumed, 7, {"status": "pending"}, {"status": "in_progress"}),
              ticket, OFFICE, system_id=1)
    assert clock["paused_at"] is None and clock["paused_business_s"] == 8 * 3600
    assert sla._thresholds(clock, OFFICE)["resolve_due_at"] == datetime(2026, 12, 1, 17, 0, tzinfo=BERLIN)


def test_requester_and_triage_actions_are_not_a_response_but_a_staff_reply_is():
    start = datetime(2026, 11, 30, 9, 0, tzinfo=BERLIN)
    clock, ticket = _clock(start), {"requester_id": 7}
    sla._move(clock, _event("commented", start, 7, None, {"comment_id": 1, "internal": False}), ticket, OFFICE, 1)
    sla._move(clock, _event("status_changed", start, 1, {"status": "new"}, {"status": "in_progress"}), ticket, OFFICE, 1)
    sla._move(clock, _event("commented", start, 42, None, {"comment_id": 2, "internal": True}), ticket, OFFICE, 1)
    assert clock["responded_at"] is None
    sla._move(clock, _event("commented", start + timedelta(minutes=5), 42, None, {"internal": False}), ticket, OFFICE, 1)
    assert clock["responded_at"] == start + timedelta(minutes=5)


def test_resolving_stops_and_reopening_resumes_the_resolve_clock():
    start = datetime(2026, 11, 30, 9, 0, tzinfo=BERLIN)
    clock, ticket = _clock(start), {"requester_id": 7}
    sla._move(clock, _event("status_changed", start + timedelta(hours=2), 42, {"status": "in_progress"},
                            {"status": "resolved"}), ticket, OFFICE, 1)
    assert clock["resolved_at"] is not None and clock["paused_at"] is not None
    sla._move(clock, _event("status_changed", start + timedelta(hours=3), 7, {"status": "resolved"},
                            {"status": "in_progress"}), ticket, OFFICE, 1)
    assert clock["resolved_at"] is None and clock["paused_business_s"] == 3600


async def _team_with_agent(make_team, make_actor):
    team = await make_team()
    agent = await make_actor(Role.agent, teams=(team,))
    return team, agent


async def _route_to(conn, team: str) -> tuple[str, int]:
    word = f"sla{uuid.uuid4().hex[:8]}"
    rule = await rules.create_rule(conn, data=RuleIn(name=f"sla {word}", position=1, team=team,
                                                               conditions={"keywords": [word]}))
    return word, rule.id


async def test_new_ticket_gets_due_times_from_policy_and_team_calendar(client, conn, settings, make_team, make_actor):
    team, agent = await _team_with_agent(make_team, make_actor)
    await policies.put_calendar(conn, data=CalendarIn(slug=team, name=team, time_zone="UTC", hours={
        d: [["00:00", "24:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}))
    await policies.set_team_calendar(conn, team=team, calendar=team)
    await policies.create_policy(conn, data=PolicyIn(name="fast", priority=5, team=team, respond_minutes=30,
                                                resolve_minutes=90))
    word, rule_id = await _route_to(conn, team)
    employee = await make_actor()
    r = await client.post("/api/v1/tickets", json={"title": f"Desk lamp flickers {word}"}, headers=employee.headers)
    ticket = r.json()
    assert ticket["respond_due_at"] is None  # computed by the worker, after routing
    await drain(worker_settings(settings), queues=["triage"])
    ticket = (await client.get(f"/api/v1/tickets/{ticket['id']}", headers=employee.headers)).json()
    created = datetime.fromisoformat(ticket["created_at"])
    assert ticket["team"] == team and ticket["priority"] == 5
    assert datetime.fromisoformat(ticket["respond_due_at"]) == created + timedelta(minutes=30)
    assert datetime.fromisoformat(ticket["resolve_due_at"]) == created + timedelta(minutes=90)
    state = (await client.get(f"/api/v1/sla/tickets/{ticket['id']}", headers=agent.headers)).json()
    assert (state["policy"], state["calendar"], state["respond"], state["resolve"]) == ("fast", team, "running", "running")
    await rules.delete_rule(conn, rule_id=rule_id)


async def test_pending_pauses_on_the_ticket_and_moves_the_due_time_on_resume(client, conn, settings, make_team,
                                                                             make_actor):
    team, agent = await _team_with_agent(make_team, make_actor)
    word, rule_id = await _route_to(conn, team)
    employee = await make_actor()
    ticket = (await client.post("/api/v1/tickets", json={"title": f"Chair broken {word}"},
                                headers=employee.headers)).json()
    ws = worker_settings(settings)
    await drain(ws, queues=["triage"])
    before = (await client.get(f"/api/v1/tickets/{ticket['id']}", headers=agent.headers)).json()
    assert before["assignee_id"] == agent.user.id
    url = f"/api/v1/tickets/{ticket['id']}/transition"
    assert (await client.post(url, json={"status": "pending"}, headers=agent.headers)).status_code == 200
    await drain(ws, queues=["triage"])
    paused = (await client.get(f"/api/v1/sla/tickets/{ticket['id']}", headers=agent.headers)).json()
    assert paused["paused_at"] is not None and paused["resolve"] == "paused"
    assert paused["responded_at"] is not None  # moving it to pending was the agent's response
    assert (await client.post(url, json={"status": "in_progress"}, headers=agent.headers)).status_code == 200
    await drain(ws, queues=["triage"])
    resumed = (await client.get(f"/api/v1/sla/tickets/{ticket['id']}", headers=agent.headers)).json()
    assert resumed["paused_at"] is None and resumed["paused_business_s"] > 0
    assert resumed["resolve_due_at"] > before["resolve_due_at"]
    await rules.delete_rule(conn, rule_id=rule_id)


async def test_warning_and_breach_are_raised_once_and_alert_the_assignee(client, conn, settings, make_team, make_actor):
    team, agent = await _team_with_agent(make_team, make_actor)
    word, rule_id = await _route_to(conn, team)
    rule = await alerts.create_rule(conn, settings=settings, actor_id=None, data=AlertRuleIn(
        name=f"breach {word}", events=["sla_warning", "sla_breach"], conditions={"teams": [team]},
        channels=[{"channel": "IN_APP", "recipients": [{"kind": "assignee"}]}]))
    employee = await make_actor()
    ticket = (await client.post("/api/v1/tickets", json={"title": f"Monitor dead {word}"},
                                headers=employee.headers)).json()
    ws = worker_settings(settings)
    await drain(ws, queues=["triage"])
    system = await engine.triage_principal(conn)
    clock = await (await conn.execute("SELECT generation FROM ticket_sla WHERE ticket_id = %s", (ticket["id"],))).fetchone()
    assert await sla.check(conn, ticket_id=ticket["id"], generation=clock["generation"], system_id=system.id) == []

    now = datetime.now(UTC)
    await conn.execute("UPDATE ticket_sla SET respond_warn_at = %s WHERE ticket_id = %s", (now - timedelta(seconds=5), ticket["id"]))
    assert await sla.check(conn, ticket_id=ticket["id"], generation=clock["generation"] + 1,
                           system_id=system.id) == []  # a timer of another generation does nothing
    assert await sla.check(conn, ticket_id=ticket["id"], generation=clock["generation"],
                           system_id=system.id) == ["sla_warning:respond"]
    await conn.execute("UPDATE tickets SET resolve_due_at = %s WHERE id = %s", (now - timedelta(seconds=1), ticket["id"]))
    assert await sla.check(conn, ticket_id=ticket["id"], generation=None, system_id=system.id) == ["sla_breach:resolve"]
    assert await sla.check(conn, ticket_id=ticket["id"], generation=None, system_id=system.id) == []

    await drain(ws, queues=["triage"])
    events = (await client.get(f"/api/v1/tickets/{ticket['id']}/events", headers=agent.headers)).json()
    assert [e["after"]["target"] for e in events if e["kind"] in ("sla_warning", "sla_breach")] == ["respond", "resolve"]
    history = (await client.get("/api/v1/alerts/history", params={"rule_id": rule.id}, headers=agent.headers)).json()
    assert sorted(f["event_kind"] for f in history["items"]) == ["sla_breach", "sla_warning"]
    inbox = (await client.get("/api/v1/notifications", headers=agent.headers)).json()
    titles = [n["title"] for n in inbox if n["ticket_id"] == ticket["id"]]
    assert any("SLA breached: resolve" in t for t in titles) and any("SLA warning: respond" in t for t in titles)
    state = (await client.get(f"/api/v1/sla/tickets/{ticket['id']}", headers=agent.headers)).json()
    assert state["resolve"] == "breached" and state["resolve_warned_at"] is not None
    await rules.delete_rule(conn, rule_id=rule_id)
    await alerts.delete_rule(conn, rule_id=rule.id)


async def test_sla_admin_endpoints_and_roles(client, make_actor):
    admin, agent, employee = await make_actor(Role.admin), await make_actor(Role.agent), await make_actor()
    slug = f"cal-{uuid.uuid4().hex[:6]}"
    body = {"slug": slug, "name": "Lisbon", "time_zone": "Europe/Lisbon", "hours": {"mon": [["09:00", "17:00"]]},
            "holidays": [{"day": "2026-12-07", "name": "closed"}]}
    assert (await client.put(f"/api/v1/sla/calendars/{slug}", json=body, headers=agent.headers)).status_code == 403
    r = await client.put(f"/api/v1/sla/calendars/{slug}", json=body, headers=admin.headers)
    assert r.status_code == 200 and r.json()["holidays"] == [{"day": "2026-12-07", "name": "closed"}]
    bad = await client.put(f"/api/v1/sla/calendars/{slug}", json=body | {"time_zone": "Nowhere/Land"},
                           headers=admin.headers)
    assert bad.status_code == 422 and "time zone" in bad.json()["detail"]
    due = await client.post(f"/api/v1/sla/calendars/{slug}/due", json={"start": "2026-11-30T16:00:00Z", "minutes": 120},
                            headers=agent.headers)
    assert due.json()["due_at"] == "2026-12-14T10:00:00Z"  # Mondays only, 7 Dec a holiday
    assert (await client.get("/api/v1/sla/policies", headers=employee.headers)).status_code == 403
    dup = await client.post("/api/v1/sla/policies", json={"name": "x", "priority": 1, "respond_minutes": 1,
                                                          "resolve_minutes": 2}, headers=admin.headers)
    assert dup.status_code == 409  # the demo data has a general P1 policy
