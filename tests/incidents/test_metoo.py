"""Me too through the api: an agent declares a major incident, chat reports link to it (category must agree),
"mine is different" opens a ticket of one's own, the service desk lists the affected people, and the resolution
reaches the linked people by e-mail (a real SMTP server) and in-app."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from fakes.smtp_sink import SmtpSink
from fakes.triage import drain, worker_settings
from pydantic import SecretStr

from api.auth.models import Role
from api.chat import service as chat
from api.chat.identity import sign_identity
from api.integrations.smtp.settings import SmtpSettings
from api.kb.embedding import get_embedder

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")

# Threshold tuning (DESKMATE_METOO_MIN_SIMILARITY): the same problem in other words, and different problems in
# similar words. Written for deskmate; MiniLM cosine similarities are in docs/tickets.md.
SAME = [
    ("VPN is down", "vpn down again"),
    ("VPN is down", "cannot connect to VPN since 9am"),
    ("vpn down again", "cannot connect to VPN since 9am"),
    ("The VPN keeps disconnecting for everyone", "VPN not working, GlobalProtect says gateway unreachable"),
    ("VPN is down", "is the vpn broken? can't reach anything from home"),
    ("Outlook won't connect to the server since this morning", "email is down, Outlook says disconnected"),
    ("The printer on floor 3 is not printing", "3rd floor printer doesn't print anything"),
    ("Teams calls drop after a minute", "Microsoft Teams keeps dropping my calls"),
    ("Wifi in the office is down", "no wifi on the 2nd floor, can't connect"),
    ("SAP is really slow today", "SAP takes forever to load, super slow"),
]
DIFFERENT = [
    ("VPN is down", "I need VPN access for my new laptop"),
    ("VPN is down", "My password expired"),
    ("VPN is down", "Outlook won't connect to the server"),
    ("cannot connect to VPN since 9am", "cannot connect to the wifi since 9am"),
    ("The printer on floor 3 is not printing", "I need a new printer driver for my Mac"),
    ("vpn down again", "the shared drive is down again"),
    ("Teams calls drop after a minute", "VPN drops after a minute"),
    ("My laptop is very slow", "SAP is really slow today"),
    ("Wifi in the office is down", "VPN is down"),
    ("email is down, Outlook says disconnected", "VPN is down"),
]


def _similarities(settings, pairs):
    vectors = get_embedder(settings).embed(list(itertools.chain.from_iterable(pairs)))
    vectors = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    return [float(vectors[2 * i] @ vectors[2 * i + 1]) for i in range(len(pairs))]


def test_the_similarity_threshold_separates_paraphrases_from_other_problems(settings):
    threshold = settings.metoo_min_similarity
    same, different = _similarities(settings, SAME), _similarities(settings, DIFFERENT)
    linked = sum(s >= threshold for s in same)
    wrongly_linked = sum(s >= threshold for s in different)
    assert linked >= 8, same          # 8 of 10 at 0.70 (the two misses: 0.61, 0.61) — they open a ticket instead
    assert wrongly_linked == 0, different  # the closest different pair (VPN vs wifi since 9am) is 0.69


@pytest.fixture
def smtp():
    with SmtpSink() as server:
        yield server


async def _chat(client, settings, conn, email: str, text: str, intent: str | None) -> tuple[str, dict]:
    """A widget conversation whose turn said ``text`` (stored as the gateway does, with Rasa's intent)."""
    r = await client.post("/api/v1/chat/conversations", json={"identity": sign_identity(settings, email)})
    assert r.status_code == 201, r.text
    conv, session = r.json()["conversation_id"], {"X-Chat-Session": r.json()["session_token"]}
    await _say(conn, conv, text, intent)
    return conv, session


async def _say(conn, conv: str, text: str, intent: str | None = None) -> None:
    message = await chat.store(conn, conv, "user", text)
    if intent:
        await conn.execute("UPDATE chat_messages SET intent = %s, confidence = 0.9 WHERE id = %s", (intent, message.id))


async def _ticket_from_chat(client, conv: str, session: dict, **body) -> dict:
    r = await client.post(f"/api/v1/chat/conversations/{conv}/tickets", json={"reason": "user_request"} | body,
                          headers=session)
    assert r.status_code == 201, r.text
    return r.json()


async def test_a_declared_major_incident_collects_reports_and_tells_them_when_resolved(
        client, conn, settings, make_actor, make_team, smtp):
    await drain(worker_settings(settings))  # what earlier tests queued, so the SMTP server sees only this test's mail
    team = await make_team()
    agent, outsider, admin = (await make_actor(Role.agent, teams=(team,)), await make_actor(Role.agent),
                              await make_actor(Role.admin))
    reporter, a, b, c, vpn = [await make_actor() for _ in range(5)]
    r = await client.post("/api/v1/tickets", headers=admin.headers, json={
        "title": "Exchange unreachable", "category": "email", "team": team, "requester_id": reporter.user.id})
    incident = r.json()["number"]

    summary = {"summary": "Outlook says disconnected and cannot connect to the mail server"}
    assert (await client.post(f"/api/v1/tickets/{incident}/major-incident", json=summary,
                              headers=reporter.headers)).status_code == 403
    denied = await client.post(f"/api/v1/tickets/{incident}/major-incident", json=summary, headers=outsider.headers)
    assert denied.status_code in (403, 404) and denied.headers["content-type"] == "application/problem+json"
    declared = await client.post(f"/api/v1/tickets/{incident}/major-incident", json=summary, headers=agent.headers)
    assert declared.status_code == 201 and declared.json()["automatic"] is False
    again = await client.post(f"/api/v1/tickets/{incident}/major-incident", json=summary, headers=agent.headers)
    assert again.status_code == 200 and again.json()["declared_at"] == declared.json()["declared_at"]
    too_long = await client.post(f"/api/v1/tickets/{incident}/major-incident", json={"summary": "x" * 2001},
                                 headers=agent.headers)
    assert too_long.status_code == 422

    people = {"a": a, "b": b, "c": c, "vpn": vpn}
    chats = {k: await _chat(client, settings, conn, people[k].user.email, text, intent) for k, text, intent in (
        ("a", "Outlook is disconnected from the server", "email_problem"),
        ("b", "outlook says disconnected, can't get my mail", "email_problem"),
        ("c", "my Outlook won't connect to the mail server", None),
        ("vpn", "Outlook is disconnected from the server", "vpn_problem"),  # same words, a network report: not it
    )}
    answers = {k: await _ticket_from_chat(client, *chats[k]) for k in people}
    for k in ("a", "b", "c"):
        assert answers[k]["outcome"] == "linked", answers[k]
        assert answers[k]["incident"]["number"] == incident and answers[k]["incident"]["major"] is True
        assert answers[k]["incident"]["title"] == "Exchange unreachable"
        [reply] = answers[k]["messages"]
        assert reply["text"].startswith(f"This looks like a known issue: {incident} (Exchange unreachable).")
        assert reply["buttons"] == [{"title": "Mine is different: open a ticket", "payload": "/open_ticket"}]
    assert answers["vpn"]["outcome"] == "opened" and answers["vpn"]["incident"] is None

    listed = await client.get(f"/api/v1/tickets/{incident}/affected-users", headers=agent.headers)
    assert [(u["user_id"], u["role"]) for u in listed.json()] == [(p.user.id, "linked") for p in (a, b, c)]
    assert (await client.get(f"/api/v1/tickets/{incident}/affected-users", headers=a.headers)).status_code == 404

    # a: "mine is different" from the bot (the explicit flag) -> a ticket of their own, unlinked
    await _say(conn, chats["a"][0], "/open_ticket")
    own = await _ticket_from_chat(client, *chats["a"], separate=True, summary="Outlook crashes when I open a PDF")
    assert own["outcome"] == "opened" and own["ticket"]["number"] != incident
    assert own["ticket"]["integration_metadata"]["separate_from_known_issue"] is True
    # b: asks for a ticket again in the linked conversation (the widget's button) -> also their own
    await _say(conn, chats["b"][0], "/open_ticket")
    assert (await _ticket_from_chat(client, *chats["b"]))["outcome"] == "opened"
    listed = await client.get(f"/api/v1/tickets/{incident}/affected-users", headers=agent.headers)
    assert [u["user_id"] for u in listed.json()] == [c.user.id]

    smtp_settings = SmtpSettings(host="127.0.0.1", port=smtp.port, tls="none", user=smtp.sink.user,
                                 password=SecretStr(smtp.sink.password), sender="desk@deskmate.test")
    await drain(worker_settings(settings, smtp=smtp_settings))
    r = await client.post(f"/api/v1/tickets/{incident}/transition", headers=agent.headers,
                          json={"status": "resolved", "reason": "The Exchange connector was restarted."})
    assert r.status_code == 200, r.text
    await drain(worker_settings(settings, smtp=smtp_settings))

    to_affected = [m for m in smtp.sink.received if m.rcpt_tos == [c.user.email]]
    assert len(to_affected) == 1
    mail = to_affected[0].message
    assert mail["Subject"] == f"[{incident}] Fixed: Exchange unreachable"
    assert "The Exchange connector was restarted." in mail.get_content()
    assert not [m for m in smtp.sink.received if {a.user.email, b.user.email} & set(m.rcpt_tos)]
    inbox = await client.get("/api/v1/notifications", headers=c.headers)
    assert any(n["title"] == f"{incident} is resolved" for n in inbox.json()), inbox.text


async def test_major_incident_bad_requests_are_clear_problems(client, make_actor):
    admin, employee = await make_actor(Role.admin), await make_actor()
    missing = await client.post("/api/v1/tickets/INC-999999/major-incident", headers=admin.headers)
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
    ticket = (await client.post("/api/v1/tickets", json={"title": "Old printer jam"}, headers=employee.headers)).json()
    await client.post(f"/api/v1/tickets/{ticket['number']}/transition", json={"status": "cancelled"},
                      headers=employee.headers)
    closed = await client.post(f"/api/v1/tickets/{ticket['number']}/major-incident", headers=admin.headers)
    assert closed.status_code == 409 and "only an open ticket" in closed.json()["detail"]
    not_major = await client.delete(f"/api/v1/tickets/{ticket['number']}/major-incident", headers=admin.headers)
    assert not_major.status_code == 404
    extra = await client.post(f"/api/v1/tickets/{ticket['number']}/major-incident", json={"severity": 1},
                              headers=admin.headers)
    assert extra.status_code == 422
