"""The admin pages of alert rules over a signed-in session: roles and CSRF, the rules list and form (checked by the
API's model, the input kept on a refusal), the webhook secret shown once, and the delivery history's re-drive."""

from __future__ import annotations

import socket
import uuid

import httpx
import psycopg
from admin2_support import signed_in
from fakes.triage import drain, worker_settings

from api.alerts import service
from api.alerts.models import AlertRuleIn
from api.auth.models import Role
from api.routing import rules as routing
from api.routing.models import RuleIn
from api.settings import Settings
from api.tickets import service as tickets
from api.tickets.models import TicketCreate

RULES = "/console/admin/alerts"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_employees_are_refused_agents_read_the_history_only_and_a_post_needs_csrf(
        web: httpx.AsyncClient, conn: psycopg.AsyncConnection, web_settings: Settings, make_actor) -> None:
    await signed_in(web, conn, web_settings, make_actor, Role.employee)
    for url in (RULES, f"{RULES}/deliveries", f"{RULES}/new"):
        assert (await web.get(url)).status_code == 403, url

    await signed_in(web, conn, web_settings, make_actor, Role.agent)
    assert (await web.get(RULES)).status_code == 403
    history = await web.get(f"{RULES}/deliveries")
    assert history.status_code == 200 and "Alert delivery history" in history.text

    admin = await signed_in(web, conn, web_settings, make_actor, Role.admin)
    name = f"no csrf {uuid.uuid4().hex[:6]}"
    body = {"name": name, "events": "created", "channels": '[{"channel": "IN_APP", "recipients": [{"kind": "assignee"}]}]'}
    refused = await web.post(RULES, data=body)
    assert refused.status_code == 403 and "CSRF" in refused.text
    assert name not in [r.name for r in await service.list_rules(conn)]
    made = await web.post(RULES, data=body | {"csrf_token": admin.csrf})
    assert made.status_code == 303
    assert name in [r.name for r in await service.list_rules(conn)]


async def test_a_rule_made_through_the_form_is_the_services_and_the_list_shows_it(
        web: httpx.AsyncClient, conn: psycopg.AsyncConnection, web_settings: Settings, make_actor) -> None:
    admin = await signed_in(web, conn, web_settings, make_actor)
    name = f"P1 to the hook {uuid.uuid4().hex[:6]}"
    made = await web.post(RULES, data={
        "csrf_token": admin.csrf, "name": name, "enabled": "true", "events": ["created", "sla_breach"],
        "conditions": '{"priorities": [1]}', "dedup_window_s": "600",
        "channels": '[{"channel": "WEBHOOK", "url": "https://hooks.example.com/desk"}]'})
    assert made.status_code == 200 and "shown only this once" in made.text  # the generated secret's page
    [rule] = [r for r in await service.list_rules(conn) if r.name == name]
    assert (rule.events, rule.conditions.priorities, rule.dedup_window_s) == (["created", "sla_breach"], [1], 600)
    assert rule.has_webhook_secret and 'value="whsec_' in made.text

    listed = await web.get(RULES)
    assert listed.status_code == 200 and f'data-rule="{rule.id}"' in listed.text and name in listed.text
    edit = await web.get(f"{RULES}/{rule.id}")
    assert "https://hooks.example.com/desk" in edit.text and "whsec_" not in edit.text

    rotated = await web.post(f"{RULES}/{rule.id}/rotate-secret", data={"csrf_token": admin.csrf})
    assert rotated.status_code == 200 and 'value="whsec_' in rotated.text
    assert rotated.text.split('value="whsec_')[1][:20] != made.text.split('value="whsec_')[1][:20]

    saved = await web.post(f"{RULES}/{rule.id}", data={
        "csrf_token": admin.csrf, "name": name, "events": "created", "conditions": "",
        "channels": '[{"channel": "IN_APP", "recipients": [{"kind": "assignee"}]}]', "dedup_window_s": ""})
    assert saved.status_code == 303 and saved.headers["location"] == f"{RULES}?done=updated"
    changed = await service.get_rule_or_raise(conn, rule_id=rule.id)
    assert (changed.enabled, [c.channel for c in changed.channels], changed.dedup_window_s) == (False, ["IN_APP"], None)

    gone = await web.post(f"{RULES}/{rule.id}/delete", data={"csrf_token": admin.csrf})
    assert gone.status_code == 303 and rule.id not in [r.id for r in await service.list_rules(conn)]


async def test_bad_input_shows_the_models_message_beside_its_field_and_keeps_the_input(
        web: httpx.AsyncClient, conn: psycopg.AsyncConnection, web_settings: Settings, make_actor) -> None:
    admin = await signed_in(web, conn, web_settings, make_actor)
    name = f"Half a hook {uuid.uuid4().hex[:6]}"
    bad = await web.post(RULES, data={"csrf_token": admin.csrf, "name": name, "events": "created",
                                      "conditions": '{"priorities": [9]}', "dedup_window_s": "soon",
                                      "channels": '[{"channel": "WEBHOOK"}]'})
    assert bad.status_code == 422 and "Not saved: correct conditions, channels, dedup_window_s (below)." in bad.text
    assert 'id="channels-error"' in bad.text and "a WEBHOOK channel needs an http(s) url" in bad.text
    assert 'id="conditions-error"' in bad.text and "less than or equal to 5" in bad.text
    assert 'id="dedup_window_s-error"' in bad.text
    assert f'value="{name}"' in bad.text and "[{&#34;channel&#34;: &#34;WEBHOOK&#34;}]" in bad.text
    assert 'value="soon"' in bad.text
    unreadable = await web.post(RULES, data={"csrf_token": admin.csrf, "name": name, "events": "created",
                                             "channels": "[{channel: IN_APP"})
    assert unreadable.status_code == 422 and "not valid JSON" in unreadable.text
    no_events = await web.post(RULES, data={"csrf_token": admin.csrf, "name": name,
                                            "channels": '[{"channel": "IN_APP", "recipients": [{"kind": "assignee"}]}]'})
    assert no_events.status_code == 422 and 'id="events-error"' in no_events.text
    assert name not in [r.name for r in await service.list_rules(conn)]

    taken = await service.create_rule(conn, data=AlertRuleIn(name=f"taken {name}", events=["created"], channels=[
        {"channel": "IN_APP", "recipients": [{"kind": "assignee"}]}]), settings=web_settings, actor_id=None)
    clash = await web.post(RULES, data={"csrf_token": admin.csrf, "name": taken.name, "events": "created",
                                        "channels": '[{"channel": "IN_APP", "recipients": [{"kind": "assignee"}]}]'})
    assert clash.status_code == 409 and "already exists" in clash.text and 'role="alert"' in clash.text


async def test_retry_requeues_a_failed_delivery_shown_in_the_history(
        web: httpx.AsyncClient, conn: psycopg.AsyncConnection, web_settings: Settings, make_actor, make_team) -> None:
    team, word = await make_team(), f"projector{uuid.uuid4().hex[:8]}"
    await make_actor(Role.agent, teams=(team,))  # routing sends tickets to a team with someone in it
    await routing.create_rule(conn, data=RuleIn(name=f"to {team}", position=1, team=team,
                                                conditions={"keywords": [word]}))
    admin = await signed_in(web, conn, web_settings, make_actor)
    worker = worker_settings(web_settings, alerts_max_attempts=1)  # loopback receivers allowed
    rule = await service.create_rule(conn, data=AlertRuleIn(
        name=f"dead hook {team}", events=["created"], conditions={"teams": [team]},
        channels=[{"channel": "WEBHOOK", "url": f"http://127.0.0.1:{_closed_port()}/hook"}]),
        settings=worker, actor_id=None)
    employee = await make_actor(Role.employee)
    ticket, _ = await tickets.create(conn, principal=admin.principal, data=TicketCreate(
        title=f"The {word} in room 4 is dead", requester_id=employee.user.id))
    await drain(worker, queues=["triage"])  # the rule fires: its delivery is queued
    await drain(worker, queues=["alerts"])  # and fails for good (one attempt)
    [firing] = (await service.history(conn, principal=admin.principal, rule_id=rule.id)).items
    [delivery] = firing.deliveries
    assert delivery.status in ("failed", "dead")

    page = await web.get(f"{RULES}/deliveries", params={"rule": rule.id, "status": delivery.status})
    assert page.status_code == 200 and ticket.number in page.text
    assert f'action="/console/admin/alerts/deliveries/{delivery.id}/retry"' in page.text
    other = await web.get(f"{RULES}/deliveries", params={"rule": rule.id, "status": "sent"})
    assert ticket.number not in other.text

    back = f"{RULES}/deliveries?rule={rule.id}"
    retried = await web.post(f"{RULES}/deliveries/{delivery.id}/retry", data={"csrf_token": admin.csrf, "back": back})
    assert retried.status_code == 303 and retried.headers["location"] == f"{back}&done=retried"
    [firing] = (await service.history(conn, principal=admin.principal, rule_id=rule.id)).items
    assert firing.deliveries[0].status == "retrying"
    queued = await (await conn.execute("SELECT status FROM procrastinate_jobs WHERE lock = %s AND status = 'todo'",
                                       (f"delivery:{delivery.id}",))).fetchall()
    assert len(queued) == 1
    twice = await web.post(f"{RULES}/deliveries/{delivery.id}/retry", data={"csrf_token": admin.csrf, "back": back})
    assert twice.status_code == 409 and "is not failed/dead" in twice.text
    await drain(worker, queues=["alerts"])
    [firing] = (await service.history(conn, principal=admin.principal, rule_id=rule.id)).items
    assert firing.deliveries[0].attempts == 2
