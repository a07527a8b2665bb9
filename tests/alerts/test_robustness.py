"""One bad input never stalls alerts (#9 item 5): header text is made safe, every delivery ends delivered,
failed or dead (or waits for a retry) whatever goes wrong, a delivery whose job was lost is re-driven
after its lease, and a rule whose template raises for one ticket fails alone, recorded and told to admins,
while the event's other rules fire and the ticket's triage goes on. Template output is capped (#9 item 8)."""

from __future__ import annotations

import uuid

import pytest
from fakes.triage import drain

from api.alerts import delivery, service
from api.alerts.models import AlertRuleIn
from api.auth.models import Role
from api.integrations.smtp.client import SmtpClient
from api.routing import rules as routing
from api.routing.models import RuleIn

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


async def _team(conn, make_team, make_actor):
    """A team routed to by a keyword, with one agent."""
    team, word = await make_team(), f"rb{uuid.uuid4().hex[:8]}"
    agent = await make_actor(Role.agent, teams=(team,))
    await routing.create_rule(conn, data=RuleIn(name=f"to {team}", position=1, team=team,
                                                conditions={"keywords": [word]}))
    return team, word, agent


async def _rule(conn, settings, team: str, **body):
    body = {"name": f"rule {uuid.uuid4().hex[:8]}", "events": ["created"], "conditions": {"teams": [team]}} | body
    return await service.create_rule(conn, data=AlertRuleIn(**body), settings=settings, actor_id=None)


async def _ticket(client, make_actor, title: str, **body) -> dict:
    r = await client.post("/api/v1/tickets", json={"title": title} | body, headers=(await make_actor()).headers)
    assert r.status_code == 201, r.text
    return r.json()


async def _history(client, make_actor, rule_id: int) -> list[dict]:
    r = await client.get("/api/v1/alerts/history", params={"rule_id": rule_id},
                         headers=(await make_actor(Role.admin)).headers)
    assert r.status_code == 200
    return r.json()["items"]


@pytest.mark.parametrize("brk", ["\r", "\x0b", "\x85", "\u2028"])
async def test_a_title_with_a_line_break_is_mailed_with_a_one_line_subject(
        client, conn, make_team, make_actor, delivery_settings, smtp, brk):
    team, word, agent = await _team(conn, make_team, make_actor)
    rule = await _rule(conn, delivery_settings, team, channels=[{"channel": "EMAIL", "recipients": [{"kind": "assignee"}]}])
    ticket = await _ticket(client, make_actor, f"Scanner {word}{brk}Bcc: everyone@example.com")
    await drain(delivery_settings)
    [firing] = await _history(client, make_actor, rule.id)
    [mail] = firing["deliveries"]
    assert (mail["status"], mail["attempts"]) == ("sent", 1)
    [got] = smtp.sink.received
    assert got.message["Subject"] == f"[{ticket['number']}] New ticket: Scanner {word} Bcc: everyone@example.com"
    assert got.message["Bcc"] is None and got.rcpt_tos == [agent.user.email]


async def test_an_unexpected_error_while_sending_is_recorded_retried_and_dead_lettered(
        client, conn, make_team, make_actor, delivery_settings, monkeypatch):
    team, word, _ = await _team(conn, make_team, make_actor)
    rule = await _rule(conn, delivery_settings, team, channels=[{"channel": "EMAIL", "recipients": [{"kind": "assignee"}]}])

    async def broken(self, **_):
        raise RuntimeError("a bug nobody foresaw")

    monkeypatch.setattr(SmtpClient, "send", broken)
    await _ticket(client, make_actor, f"Keyboard {word}")
    await drain(delivery_settings)
    [firing] = await _history(client, make_actor, rule.id)
    [mail] = firing["deliveries"]
    assert (mail["status"], mail["attempts"]) == ("dead", 3)
    assert [a["status"] for a in mail["history"]] == ["error"] * 3
    assert mail["last_error"] == "unexpected error: RuntimeError: a bug nobody foresaw"
    monkeypatch.undo()
    admin = await make_actor(Role.admin)
    assert (await client.post(f"/api/v1/alerts/deliveries/{mail['id']}/retry", headers=admin.headers)).status_code == 202
    await drain(delivery_settings)
    [firing] = await _history(client, make_actor, rule.id)
    assert firing["deliveries"][0]["status"] == "sent"


async def test_a_delivery_whose_job_was_lost_is_redriven_after_its_lease(
        client, conn, make_team, make_actor, delivery_settings, smtp):
    team, word, _ = await _team(conn, make_team, make_actor)
    rule = await _rule(conn, delivery_settings, team, channels=[{"channel": "EMAIL", "recipients": [{"kind": "assignee"}]}])
    await _ticket(client, make_actor, f"Monitor {word}")
    await drain(delivery_settings, queues=["triage"])
    [firing] = await _history(client, make_actor, rule.id)
    pending = firing["deliveries"][0]
    # an attempt starts, then its job ends without recording anything (it failed for good, or was lost)
    assert await delivery._begin(conn, pending["id"]) is not None
    await conn.execute("UPDATE procrastinate_jobs SET status = 'failed' WHERE lock = %s AND status = 'todo'",
                       (f"delivery:{pending['id']}",))
    assert pending["id"] not in await delivery.redrive_stuck(conn, settings=delivery_settings)  # within the lease
    await conn.execute("UPDATE alert_deliveries SET updated_at = now() - interval '10 minutes' WHERE id = %s",
                       (pending["id"],))
    assert pending["id"] in await delivery.redrive_stuck(conn, settings=delivery_settings)
    assert pending["id"] not in await delivery.redrive_stuck(conn, settings=delivery_settings)  # its job is queued
    await drain(delivery_settings)
    [firing] = await _history(client, make_actor, rule.id)
    d = firing["deliveries"][0]
    assert (d["status"], [a["status"] for a in d["history"]]) == ("sent", ["interrupted", "ok"])
    assert len(smtp.sink.received) == 1


async def test_a_template_that_raises_fails_only_its_own_rule(client, conn, make_team, make_actor, delivery_settings):
    team, word, agent = await _team(conn, make_team, make_actor)
    admin = await make_actor(Role.admin)
    bad = await _rule(conn, delivery_settings, team, events=["created", "commented"], dedup_window_s=0, channels=[
        {"channel": "IN_APP", "recipients": [{"kind": "assignee"}], "template": {"body": "{{ 1 // (ticket.impact-3) }}"}}])
    good = await _rule(conn, delivery_settings, team, channels=[{"channel": "IN_APP", "recipients": [{"kind": "assignee"}]}])
    ticket = await _ticket(client, make_actor, f"Docking station {word}", impact=3)
    await drain(delivery_settings)

    [failed] = await _history(client, make_actor, bad.id)
    assert failed["status"] == "failed" and failed["deliveries"] == []
    assert "ZeroDivisionError" in failed["error"]
    [fired] = await _history(client, make_actor, good.id)
    assert fired["status"] == "fired" and [d["status"] for d in fired["deliveries"]] == ["sent"]
    inbox = (await client.get("/api/v1/notifications", headers=agent.headers)).json()
    assert f"[{ticket['number']}] New ticket: Docking station {word}" in [n["title"] for n in inbox]
    told = [n for n in (await client.get("/api/v1/notifications", headers=admin.headers)).json()
            if n["title"] == f"Alert rule '{bad.name}' failed for {ticket['number']}"]
    assert len(told) == 1 and "ZeroDivisionError" in told[0]["body"]
    # the ticket's triage went on: routed, cursor past the event, no failed triage job
    assert (await client.get(f"/api/v1/tickets/{ticket['id']}", headers=agent.headers)).json()["team"] == team
    cursor = await (await conn.execute(
        "SELECT c.last_event_id = (SELECT max(id) FROM ticket_events WHERE ticket_id = c.ticket_id) AS done "
        "FROM triage_cursors c WHERE c.ticket_id = %s", (ticket["id"],))).fetchone()
    assert cursor["done"]

    r = await client.post(f"/api/v1/tickets/{ticket['id']}/comments", json={"body": "any news?"},
                          headers=agent.headers)
    assert r.status_code == 201
    await drain(delivery_settings)
    assert [f["status"] for f in await _history(client, make_actor, bad.id)] == ["failed", "failed"]
    told = [n for n in (await client.get("/api/v1/notifications", headers=admin.headers)).json()
            if n["title"].startswith(f"Alert rule '{bad.name}' failed")]
    assert len(told) == 1  # admins are told once an hour per rule, not once per ticket event


@pytest.mark.parametrize(("template", "error"), [
    ("{% for i in range(40000) %}xx{% endfor %}", "renders more than 65536 bytes"),
    ("{{ 'x' * 100000000 }}", "SecurityError"),
    ("{{ 2 ** 100000000 }}", "SecurityError"),
    ("{{ 1 // 0 }}", "ZeroDivisionError"),
])
async def test_templates_that_fail_or_are_too_large_are_refused_when_saved(client, make_actor, template, error):
    admin = await make_actor(Role.admin)
    body = {"name": f"big {uuid.uuid4().hex[:8]}", "events": ["created"],
            "channels": [{"channel": "EMAIL", "recipients": [{"kind": "team"}], "template": {"body": template}}]}
    r = await client.post("/api/v1/alerts/rules", json=body, headers=admin.headers)
    assert r.status_code == 422 and error in r.json()["detail"], r.text


async def test_output_over_the_cap_for_a_real_ticket_fails_the_firing_cleanly(
        client, conn, make_team, make_actor, delivery_settings):
    team, word, _ = await _team(conn, make_team, make_actor)
    rule = await _rule(conn, delivery_settings, team, channels=[{
        "channel": "EMAIL", "recipients": [{"kind": "assignee"}], "template": {"body": "{{ ticket.description * 40 }}"}}])
    await _ticket(client, make_actor, f"Laptop {word}", description="The fan is loud. " * 110)
    await drain(delivery_settings)
    [firing] = await _history(client, make_actor, rule.id)
    assert firing["status"] == "failed" and "renders more than 65536 bytes" in firing["error"]
