"""Alert rules API: admin only, webhook secrets shown once and encrypted at rest, sandboxed templates,
validated channels; history for staff; notifications private to their owner; SMS cut to one segment."""

from __future__ import annotations

import uuid

import pytest

from api import crypto
from api.alerts.templates import gsm7_septets, one_segment, ucs2_units
from api.auth.models import Role


def _rule(**body) -> dict:
    return {"name": f"rule {uuid.uuid4().hex[:8]}", "events": ["created"],
            "channels": [{"channel": "IN_APP", "recipients": [{"kind": "assignee"}]}]} | body


async def test_rules_are_for_admins(client, make_actor):
    admin, agent, employee = await make_actor(Role.admin), await make_actor(Role.agent), await make_actor()
    for who in (agent, employee):
        assert (await client.get("/api/v1/alerts/rules", headers=who.headers)).status_code == 403
        assert (await client.post("/api/v1/alerts/rules", json=_rule(), headers=who.headers)).status_code == 403
    created = await client.post("/api/v1/alerts/rules", json=_rule(conditions={"priorities": [1, 2]}), headers=admin.headers)
    assert created.status_code == 201, created.text
    url = f"/api/v1/alerts/rules/{created.json()['id']}"
    assert (await client.get(url, headers=agent.headers)).status_code == 403
    body = _rule(name=created.json()["name"], events=["commented", "sla_breach"], enabled=False)
    updated = await client.put(url, json=body, headers=admin.headers)
    assert updated.json()["events"] == ["commented", "sla_breach"] and updated.json()["enabled"] is False
    clash = await client.post("/api/v1/alerts/rules", json=_rule(name=body["name"]), headers=admin.headers)
    assert clash.status_code == 409
    assert (await client.delete(url, headers=admin.headers)).status_code == 204
    assert (await client.get(url, headers=admin.headers)).status_code == 404


async def test_webhook_secrets_are_shown_once_and_encrypted_at_rest(client, conn, make_actor, settings):
    admin = await make_actor(Role.admin)
    # disabled: an enabled catch-all rule would post every later test's ticket to hooks.example.com (which does not
    # resolve), and the drains of later tests would retry those deliveries for minutes
    body = _rule(enabled=False, channels=[{"channel": "WEBHOOK", "url": "https://hooks.example.com/deskmate"}])
    created = (await client.post("/api/v1/alerts/rules", json=body, headers=admin.headers)).json()
    secret = created["webhook_secret"]
    assert secret.startswith("whsec_") and len(secret) > 40 and created["has_webhook_secret"]
    fetched = (await client.get(f"/api/v1/alerts/rules/{created['id']}", headers=admin.headers)).json()
    assert "webhook_secret" not in fetched and fetched["has_webhook_secret"] is True
    row = await (await conn.execute("SELECT secret_encrypted FROM alert_rules WHERE id = %s", (created["id"],))).fetchone()
    assert secret not in row["secret_encrypted"] and crypto.decrypt(settings, row["secret_encrypted"]) == secret
    rotated = (await client.post(f"/api/v1/alerts/rules/{created['id']}/rotate-secret", headers=admin.headers)).json()
    assert rotated["webhook_secret"] not in (None, secret)
    given = await client.post("/api/v1/alerts/rules", headers=admin.headers,
                              json=_rule(webhook_secret="my-own-secret-of-some-length", enabled=False,
                                        channels=body["channels"]))
    assert given.json()["webhook_secret"] is None  # the admin knows it already


@pytest.mark.parametrize(("template", "error"), [
    ({"body": "{{ ticket.__class__.__mro__ }}"}, "SecurityError"),
    ({"body": "{{ ticket.title.format(x=1) }}{{ ticket.update({}) }}"}, "SecurityError"),
    ({"subject": "{{ tikcet.number }}"}, "UndefinedError"),
    ({"body": "{% for x in ticket %}"}, "TemplateSyntaxError"),
])
async def test_templates_are_sandboxed_and_checked_when_saved(client, make_actor, template, error):
    admin = await make_actor(Role.admin)
    body = _rule(channels=[{"channel": "EMAIL", "recipients": [{"kind": "team"}], "template": template}])
    r = await client.post("/api/v1/alerts/rules", json=body, headers=admin.headers)
    assert r.status_code == 422 and error in r.json()["detail"]


@pytest.mark.parametrize(("channel", "detail"), [
    ({"channel": "SMS", "recipients": [{"kind": "phone", "number": "555-1234"}]}, "E.164"),
    ({"channel": "WEBHOOK", "url": "ftp://example.com/x"}, "http(s) url"),
    ({"channel": "WEBHOOK", "url": "https://example.com/x", "recipients": [{"kind": "team"}]}, "not recipients"),
    ({"channel": "EMAIL", "recipients": []}, "at least one recipient"),
    ({"channel": "IN_APP", "recipients": [{"kind": "user"}]}, "user_id"),
    ({"channel": "WEBHOOK", "url": "http://10.0.0.8/hook"}, "private or loopback"),
])
async def test_channels_are_validated(client, make_actor, channel, detail):
    admin = await make_actor(Role.admin)
    r = await client.post("/api/v1/alerts/rules", json=_rule(channels=[channel]), headers=admin.headers)
    assert r.status_code == 422 and detail in r.json()["detail"]


async def test_history_is_for_staff(client, make_actor):
    assert (await client.get("/api/v1/alerts/history", headers=(await make_actor()).headers)).status_code == 403
    page = await client.get("/api/v1/alerts/history", params={"limit": 2}, headers=(await make_actor(Role.agent)).headers)
    assert page.status_code == 200 and len(page.json()["items"]) <= 2
    bad = await client.get("/api/v1/alerts/history", params={"cursor": "nope!"}, headers=(await make_actor(Role.agent)).headers)
    assert bad.status_code == 422


async def test_notifications_are_private_and_can_be_marked_read(client, conn, make_actor):
    alice, bob = await make_actor(), await make_actor()
    ids = [(await (await conn.execute(
        "INSERT INTO notifications (user_id, title, body) VALUES (%s, %s, 'b') RETURNING id", (alice.user.id, t))
    ).fetchone())["id"] for t in ("one", "two")]
    mine = (await client.get("/api/v1/notifications", headers=alice.headers)).json()
    assert [n["title"] for n in mine] == ["two", "one"]
    assert (await client.get("/api/v1/notifications", headers=bob.headers)).json() == []
    assert (await client.post(f"/api/v1/notifications/{ids[0]}/read", headers=bob.headers)).status_code == 404
    read = await client.post(f"/api/v1/notifications/{ids[0]}/read", headers=alice.headers)
    assert read.status_code == 200 and read.json()["read_at"] is not None
    unread = (await client.get("/api/v1/notifications", params={"unread": True}, headers=alice.headers)).json()
    assert [n["id"] for n in unread] == [ids[1]]
    assert (await client.post("/api/v1/notifications/read-all", headers=alice.headers)).json() == {"marked": 1}
    assert (await client.get("/api/v1/notifications", params={"unread": True}, headers=alice.headers)).json() == []
    assert (await client.get("/api/v1/notifications")).status_code == 401


async def test_phone_numbers_are_set_by_their_owner_or_an_admin(client, make_actor):
    alice, bob, admin = await make_actor(), await make_actor(), await make_actor(Role.admin)
    url = f"/api/v1/alerts/contacts/{alice.user.id}"
    assert (await client.put(url, json={"phone": "+15551230000"}, headers=alice.headers)).status_code == 204
    assert (await client.put(url, json={"phone": "+15551230000"}, headers=bob.headers)).status_code == 403
    assert (await client.put(url, json={"phone": "0155 123"}, headers=admin.headers)).status_code == 422
    assert (await client.put(url, json={"phone": None}, headers=admin.headers)).status_code == 204


def test_gsm7_sms_is_cut_at_a_word_to_160_septets():
    text = "INC-000123 P1 New ticket: " + "the VPN concentrator in Frankfurt is down for everyone " * 4
    cut = one_segment(text)
    assert gsm7_septets(cut) <= 160 and cut.endswith("...") and not cut[:-3].endswith(" ")
    assert text.startswith(cut[:-3]) and text[len(cut) - 3] == " "  # cut at a word boundary


def test_extended_gsm_characters_count_twice():
    text = "x" * 150 + "{}[]~"
    assert gsm7_septets(text) == 160 and one_segment(text) == text
    assert gsm7_septets(one_segment(text + "|")) <= 160


def test_non_gsm_text_is_cut_to_70_ucs2_units_without_splitting_emoji():
    text = "Drucker im 2. OG druckt nur noch 😀 Zeichensalat, seit heute früh, bitte dringend helfen"
    cut = one_segment(text)
    assert ucs2_units(cut) <= 70 and cut.endswith("…") and "😀" in cut  # the emoji costs 2 units, kept whole
    assert ucs2_units(cut) > 60  # …and the room is used


def test_typographic_quotes_do_not_force_ucs2():
    text = "Printer “Floor 2” – jammed again… " * 3
    cut = one_segment(text)
    assert gsm7_septets(cut) is not None and cut.startswith('Printer "Floor 2" - jammed again...')
    assert one_segment("short") == "short"
