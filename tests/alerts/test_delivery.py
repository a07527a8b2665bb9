"""Alert deliveries end to end: a ticket event fires rules; the worker sends e-mail to a real SMTP server,
SMS through the real twilio SDK to the Twilio fake, signed webhooks to a receiver, in-app notifications;
retries with backoff, dead-letter and re-drive; duplicates suppressed; history with every attempt."""

from __future__ import annotations

import uuid

import pytest
from fakes.triage import drain
from twilio.rest import Client

from api.alerts import delivery, service
from api.alerts.models import AlertRuleIn
from api.auth import service as people
from api.auth.models import Role
from api.integrations.outbound import OutboundSettings
from api.routing import rules as routing
from api.routing.models import RuleIn

# the test SMTP server wants a login without TLS (on loopback), which aiosmtpd warns about
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


async def _setup(conn, make_team, make_actor, *, phone: str | None = "+15551230042"):
    """A team routed to by a keyword, with one agent (who has a phone number)."""
    team, word = await make_team(), f"al{uuid.uuid4().hex[:8]}"
    agent = await make_actor(Role.agent, teams=(team,))
    if phone:
        await people.set_phone(conn, user_id=agent.user.id, phone=phone)
    await routing.create_rule(conn, data=RuleIn(name=f"to {team}", position=1, team=team,
                                                conditions={"keywords": [word]}))
    return team, word, agent


async def _rule(conn, settings, **body):
    return await service.create_rule(conn, data=AlertRuleIn(**body), settings=settings, actor_id=None)


async def _ticket(client, make_actor, word: str, **body) -> dict:
    employee = await make_actor()
    r = await client.post("/api/v1/tickets", json={"title": f"Scanner {word} offline"} | body, headers=employee.headers)
    assert r.status_code == 201
    return r.json()


async def _history(client, make_actor, rule_id: int) -> list[dict]:
    admin = await make_actor(Role.admin)  # agents see only their teams' tickets' alerts (test_history_scope.py)
    r = await client.get("/api/v1/alerts/history", params={"rule_id": rule_id}, headers=admin.headers)
    assert r.status_code == 200
    return r.json()["items"]


async def test_one_event_alerts_by_email_sms_webhook_and_in_app(
        client, conn, make_team, make_actor, delivery_settings, smtp, twilio, receiver):
    team, word, agent = await _setup(conn, make_team, make_actor)
    rule = await _rule(conn, delivery_settings, name=f"all {word}", events=["created"], conditions={"teams": [team]},
                       webhook_secret=receiver.receiver.secret, channels=[
        {"channel": "EMAIL", "recipients": [{"kind": "assignee"}, {"kind": "email", "address": "oncall@example.com"}]},
        {"channel": "SMS", "recipients": [{"kind": "assignee"}],
         "template": {"body": "{{ ticket.number }} P{{ ticket.priority }}: {{ ticket.title }} — {{ ticket.description }}"}},
        {"channel": "WEBHOOK", "url": receiver.url},
        {"channel": "IN_APP", "recipients": [{"kind": "assignee"}]},
    ])
    ticket = await _ticket(client, make_actor, word, description="The scanner on the 3rd floor " * 20)
    await drain(delivery_settings)

    assert smtp.sink.wait_for(2, timeout=1)
    mails = {r.rcpt_tos[0]: r for r in smtp.sink.received}
    assert set(mails) == {agent.user.email, "oncall@example.com"}
    assert all(r.message["X-Deskmate-Delivery"] for r in mails.values())
    mail = mails[agent.user.email].message
    assert mail["Subject"] == f"[{ticket['number']}] New ticket: Scanner {word} offline"
    assert mail["From"] == "desk@deskmate.test" and mail["Message-ID"].endswith("@deskmate.test>")
    assert "Assignee: Test agent" in mail.get_content()

    [sms] = twilio.fake.messages
    assert (sms.to, sms.from_) == ("+15551230042", "+15557654321")
    assert sms.body.startswith(f"{ticket['number']} P5: Scanner {word} offline") and sms.body.endswith("...")
    assert len(sms.body) <= 160
    assert twilio.fake.requests[-1]["headers"]["Authorization"].startswith("Basic ")

    [seen] = receiver.receiver.seen
    assert seen.signature_ok and seen.fresh and seen.status == 200
    assert seen.payload["event"]["kind"] == "created" and seen.payload["ticket"]["number"] == ticket["number"]
    assert seen.payload["ticket"]["assignee"] == "Test agent" and seen.payload["rule"]["name"] == f"all {word}"

    inbox = (await client.get("/api/v1/notifications", headers=agent.headers)).json()
    mine = [n for n in inbox if n["title"] == f"[{ticket['number']}] New ticket: Scanner {word} offline"]
    assert len(mine) == 1 and mine[0]["ticket_id"] == ticket["id"] and mine[0]["read_at"] is None

    [firing] = await _history(client, make_actor, rule.id)
    assert firing["status"] == "fired" and firing["ticket_number"] == ticket["number"]
    by_channel = {(d["channel"], d["recipient"]): d for d in firing["deliveries"]}
    assert len(by_channel) == 5 and {d["status"] for d in by_channel.values()} == {"sent"}
    assert all([a["status"] for a in d["history"]] == ["ok"] for d in by_channel.values())
    assert by_channel[("SMS", "+15551230042")]["external_id"] == sms.sid
    assert by_channel[("EMAIL", agent.user.email)]["external_id"] == mail["Message-ID"]
    assert by_channel[("WEBHOOK", receiver.url)]["idempotency_key"] == seen.key


async def test_a_permanent_twilio_error_fails_at_once(client, conn, make_team, make_actor, delivery_settings, twilio):
    team, word, _ = await _setup(conn, make_team, make_actor, phone=None)
    rule = await _rule(conn, delivery_settings, name=f"bad sms {word}", events=["created"], conditions={"teams": [team]},
                       channels=[{"channel": "SMS", "recipients": [{"kind": "phone", "number": "+15005550001"},
                                                                   {"kind": "assignee"}]}])
    await _ticket(client, make_actor, word)
    await drain(delivery_settings)
    [firing] = await _history(client, make_actor, rule.id)
    failed, skipped = sorted(firing["deliveries"], key=lambda d: d["status"])
    assert (failed["status"], failed["attempts"]) == ("failed", 1)
    assert failed["history"][0]["detail"]["twilio_code"] == 21211 and "21211" in failed["last_error"]
    assert skipped["status"] == "skipped" and skipped["last_error"] == "Test agent has no phone number"
    assert twilio.fake.messages == []


async def test_a_rate_limited_sms_is_retried(client, conn, make_team, make_actor, delivery_settings, twilio):
    team, word, _ = await _setup(conn, make_team, make_actor)
    rule = await _rule(conn, delivery_settings, name=f"retry sms {word}", events=["created"],
                       conditions={"teams": [team]}, channels=[{"channel": "SMS", "recipients": [{"kind": "assignee"}]}])
    twilio.fake.fail_next(429, 20429)
    await _ticket(client, make_actor, word)
    await drain(delivery_settings)
    [firing] = await _history(client, make_actor, rule.id)
    [sms] = firing["deliveries"]
    assert (sms["status"], sms["attempts"]) == ("sent", 2)
    assert [(a["status"], a["detail"].get("twilio_code")) for a in sms["history"]] == [("error", 20429), ("ok", None)]
    assert len(twilio.fake.messages) == 1


async def test_webhook_retries_with_backoff_then_dead_letters_and_can_be_redriven(
        client, conn, make_team, make_actor, delivery_settings, receiver):
    team, word, _ = await _setup(conn, make_team, make_actor)
    rule = await _rule(conn, delivery_settings, name=f"hook {word}", events=["created"], conditions={"teams": [team]},
                       webhook_secret=receiver.receiver.secret, channels=[{"channel": "WEBHOOK", "url": receiver.url}])
    receiver.receiver.answers = [500, 503, 500]
    await _ticket(client, make_actor, word)
    await drain(delivery_settings)
    [firing] = await _history(client, make_actor, rule.id)
    [hook] = firing["deliveries"]
    assert (hook["status"], hook["attempts"]) == ("dead", 3)
    assert [a["detail"]["http_status"] for a in hook["history"]] == [500, 503, 500]
    assert "answered 500" in hook["last_error"]
    assert {s.key for s in receiver.receiver.seen} == {hook["idempotency_key"]} and not receiver.receiver.accepted

    admin = await make_actor(Role.admin)
    r = await client.post(f"/api/v1/alerts/deliveries/{hook['id']}/retry", headers=admin.headers)
    assert r.status_code == 202
    again = await client.post(f"/api/v1/alerts/deliveries/{hook['id']}/retry", headers=admin.headers)
    assert again.status_code == 409  # not dead any more
    await drain(delivery_settings)
    [firing] = await _history(client, make_actor, rule.id)
    assert (firing["deliveries"][0]["status"], firing["deliveries"][0]["attempts"]) == ("sent", 4)
    assert list(receiver.receiver.accepted) == [hook["idempotency_key"]]


async def test_a_client_error_from_the_receiver_is_final(client, conn, make_team, make_actor, delivery_settings,
                                                         receiver):
    team, word, _ = await _setup(conn, make_team, make_actor)
    rule = await _rule(conn, delivery_settings, name=f"gone {word}", events=["created"], conditions={"teams": [team]},
                       webhook_secret=receiver.receiver.secret, channels=[{"channel": "WEBHOOK", "url": receiver.url}])
    receiver.receiver.answers = [410]
    await _ticket(client, make_actor, word)
    await drain(delivery_settings)
    [firing] = await _history(client, make_actor, rule.id)
    assert (firing["deliveries"][0]["status"], firing["deliveries"][0]["attempts"]) == ("failed", 1)


async def test_a_wrong_secret_is_refused_by_the_receiver(client, conn, make_team, make_actor, delivery_settings,
                                                         receiver):
    team, word, _ = await _setup(conn, make_team, make_actor)
    rule = await _rule(conn, delivery_settings, name=f"forged {word}", events=["created"], conditions={"teams": [team]},
                       webhook_secret="whsec_not-the-receivers-secret", channels=[{"channel": "WEBHOOK", "url": receiver.url}])
    await _ticket(client, make_actor, word)
    await drain(delivery_settings)
    [seen] = receiver.receiver.seen
    assert (seen.signature_ok, seen.status) == (False, 401) and not receiver.receiver.accepted
    [firing] = await _history(client, make_actor, rule.id)
    assert firing["deliveries"][0]["status"] == "failed"


async def test_webhooks_to_private_addresses_are_refused_unless_allowed(
        client, conn, make_team, make_actor, delivery_settings, receiver):
    team, word, _ = await _setup(conn, make_team, make_actor)
    strict = delivery_settings.model_copy(update={"outbound": OutboundSettings(allow_private=False)})
    rule = await _rule(conn, delivery_settings, name=f"private {word}", events=["created"],
                       conditions={"teams": [team]}, channels=[{"channel": "WEBHOOK", "url": receiver.url}])
    await _ticket(client, make_actor, word)
    await drain(strict)
    [firing] = await _history(client, make_actor, rule.id)
    hook = firing["deliveries"][0]
    assert hook["status"] == "failed" and "private or loopback" in hook["last_error"]
    assert receiver.receiver.seen == []
    admin = await make_actor(Role.admin)
    body = {"name": f"api {word}", "events": ["created"], "channels": [{"channel": "WEBHOOK", "url": receiver.url}]}
    r = await client.post("/api/v1/alerts/rules", json=body, headers=admin.headers)
    assert r.status_code == 422 and "private or loopback" in r.json()["detail"]


async def test_duplicate_alerts_within_the_window_are_suppressed(client, conn, make_team, make_actor, delivery_settings):
    team, word, agent = await _setup(conn, make_team, make_actor)
    rule = await _rule(conn, delivery_settings, name=f"dedup {word}", events=["commented"], conditions={"teams": [team]},
                       channels=[{"channel": "IN_APP", "recipients": [{"kind": "requester"}]}])
    every = await _rule(conn, delivery_settings, name=f"every {word}", events=["commented"], dedup_window_s=0,
                        conditions={"teams": [team]}, channels=[{"channel": "IN_APP", "recipients": [{"kind": "requester"}]}])
    employee = await make_actor()
    ticket = (await client.post("/api/v1/tickets", json={"title": f"Mouse {word}"}, headers=employee.headers)).json()
    await drain(delivery_settings, queues=["triage"])
    for text in ("Looking into it", "Found it", "internal: the dongle"):
        r = await client.post(f"/api/v1/tickets/{ticket['id']}/comments", json={"body": text, "internal": "internal" in text},
                              headers=agent.headers)
        assert r.status_code == 201
    await drain(delivery_settings)
    firings = sorted(await _history(client, make_actor, rule.id), key=lambda f: f["id"])
    assert [f["status"] for f in firings] == ["fired", "suppressed"]  # internal notes don't match at all
    assert firings[1]["suppressed_by"] == firings[0]["id"] and firings[1]["deliveries"] == []
    assert [f["status"] for f in await _history(client, make_actor, every.id)] == ["fired", "fired"]
    inbox = (await client.get("/api/v1/notifications", headers=employee.headers)).json()
    assert sum("Found it" in n["body"] for n in inbox) == 1  # only the rule without a window told about it
    assert not any("dongle" in n["body"] for n in inbox)


async def test_an_interrupted_sms_attempt_is_not_sent_twice(client, conn, make_team, make_actor, delivery_settings,
                                                            twilio):
    team, word, _ = await _setup(conn, make_team, make_actor, phone="+15551230077")
    rule = await _rule(conn, delivery_settings, name=f"crash sms {word}", events=["created"],
                       conditions={"teams": [team]}, channels=[{"channel": "SMS", "recipients": [{"kind": "assignee"}]}])
    await _ticket(client, make_actor, word)
    await drain(delivery_settings, queues=["triage"])
    [firing] = await _history(client, make_actor, rule.id)
    pending = firing["deliveries"][0]
    # a worker starts the attempt, Twilio accepts the message, the worker dies before recording it
    assert await delivery._begin(conn, pending["id"]) is not None
    sdk = Client(twilio.fake.account_sid, twilio.fake.auth_token)
    sdk.api.base_url = twilio.url
    sdk.messages.create(to="+15551230077", from_="+15557654321", body="earlier unrelated")
    sent = sdk.messages.create(to="+15551230077", from_="+15557654321", body=pending["body"])
    for n in range(55):  # newer traffic to the number: the lookup (newest first, 50 a page) has to page
        sdk.messages.create(to="+15551230077", from_="+15557654321", body=f"later unrelated {n}")
    before = len(twilio.fake.requests)
    await drain(delivery_settings)
    lookups = [r for r in twilio.fake.requests[before:] if r["method"] == "GET"]
    assert len(lookups) == 2 and "Page=1" in lookups[1]["path"]
    [firing] = await _history(client, make_actor, rule.id)
    d = firing["deliveries"][0]
    assert (d["status"], d["external_id"], d["attempts"]) == ("sent", sent.sid, 2)
    assert [a["status"] for a in d["history"]] == ["interrupted", "duplicate"]
    assert sum(m.body == pending["body"] for m in twilio.fake.messages) == 1


async def test_unconfigured_email_fails_without_retrying(client, conn, make_team, make_actor, delivery_settings):
    team, word, _ = await _setup(conn, make_team, make_actor)
    rule = await _rule(conn, delivery_settings, name=f"nomail {word}", events=["created"], conditions={"teams": [team]},
                       channels=[{"channel": "EMAIL", "recipients": [{"kind": "team"}]}])
    await _ticket(client, make_actor, word)
    await drain(delivery_settings.model_copy(update={"smtp": delivery_settings.smtp.model_copy(update={"host": None})}))
    [firing] = await _history(client, make_actor, rule.id)
    [mail] = firing["deliveries"]
    assert (mail["status"], mail["attempts"]) == ("failed", 1) and "DESKMATE_SMTP_HOST" in mail["last_error"]
