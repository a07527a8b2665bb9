"""Chat gateway against a fake of Rasa's REST channel (tests/e2e has the real bot)."""

from __future__ import annotations

import uuid

import pytest
from chat_support import start as _start

from api.auth import assertions
from api.auth.models import Role
from api.chat import tickets
from api.chat.identity import sign_identity, sign_session
from api.chat.models import TicketRequest


async def test_anonymous_and_identified_conversations(client, settings, make_actor):
    employee = await make_actor()
    _, _, anonymous = await _start(client, settings)
    _, _, known = await _start(client, settings, employee.user.email)
    assert anonymous["employee"] is None
    assert known["employee"] == {"email": employee.user.email, "name": employee.user.name}
    forged = await client.post("/api/v1/chat/conversations", json={"identity": "eyJlbWFpbCI6ImFAYi5jIn0.forged"})
    assert forged.status_code == 401
    unknown = await client.post("/api/v1/chat/conversations", json={"identity": sign_identity(settings, "ghost@x.io")})
    assert unknown.status_code == 403


async def test_a_turn_is_forwarded_stored_and_answered(client, settings, make_actor, rasa):
    employee = await make_actor()
    conv, session, _ = await _start(client, settings, employee.user.email)
    r = await client.post(f"/api/v1/chat/conversations/{conv}/messages", json={"text": " I forgot my password "},
                          headers=session)
    assert r.status_code == 200, r.text
    turn = r.json()
    [received] = rasa.received
    assert (received["sender"], received["message"]) == (conv, "I forgot my password")
    assert set(received["metadata"]) == {"conversation_id", "channel", "assertion", "traceparent"}  # no e-mail address
    assert (received["metadata"]["conversation_id"], received["metadata"]["channel"]) == (conv, "web")
    asserted = assertions.verify(settings, received["metadata"]["assertion"])
    assert (asserted.subject, asserted.conversation_id) == (employee.user.email, conv)
    assert (turn["intent"], turn["confidence"]) == ("password_reset", pytest.approx(0.97))
    assert [m["text"] for m in turn["messages"]] == ["Let's reset it."]
    assert turn["messages"][0]["buttons"] == [{"title": "Yes", "payload": "/affirm"}]
    history = (await client.get(f"/api/v1/chat/conversations/{conv}/messages", headers=session)).json()["messages"]
    assert [(m["direction"], m["text"], m["intent"]) for m in history] == [
        ("user", "I forgot my password", "password_reset"), ("bot", "Let's reset it.", None)]


async def test_citations_from_a_custom_reply_join_the_text_before_it(client, settings, rasa):
    rasa.replies = [{"text": "Connect with GlobalProtect [1]."},
                    {"custom": {"citations": [{"n": 1, "title": "Set up the VPN", "url": "https://kb/vpn"}]}}]
    conv, session, _ = await _start(client, settings)
    turn = (await client.post(f"/api/v1/chat/conversations/{conv}/messages", json={"text": "vpn?"},
                              headers=session)).json()
    assert len(turn["messages"]) == 1
    assert turn["messages"][0]["citations"] == [{"n": 1, "title": "Set up the VPN", "url": "https://kb/vpn"}]


async def test_session_token_is_bound_to_its_conversation(client, settings, rasa):
    conv, _, _ = await _start(client, settings)
    other_conv, other_session, _ = await _start(client, settings)
    for headers in ({}, {"X-Chat-Session": "garbage"}, other_session):
        r = await client.post(f"/api/v1/chat/conversations/{conv}/messages", json={"text": "hi"}, headers=headers)
        assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"
    assert rasa.received == []


async def test_length_and_rate_limits(client, settings, rasa, app):
    conv, session, _ = await _start(client, settings)
    url = f"/api/v1/chat/conversations/{conv}/messages"
    long = await client.post(url, json={"text": "x" * (settings.chat_max_chars + 1)}, headers=session)
    assert long.status_code == 422 and f"limited to {settings.chat_max_chars} characters" in long.json()["detail"]
    for i in range(settings.chat_rate_per_minute):
        assert (await client.post(url, json={"text": f"msg {i}"}, headers=session)).status_code == 200
    limited = await client.post(url, json={"text": "one more"}, headers=session)
    assert limited.status_code == 429 and 1 <= int(limited.headers["retry-after"]) <= 60  # until the oldest leaves the minute
    assert len(rasa.received) == settings.chat_rate_per_minute


async def test_rasa_down_still_answers_and_offers_a_ticket(client, settings, make_actor, rasa):
    employee = await make_actor()
    rasa.down = True
    conv, session, _ = await _start(client, settings, employee.user.email)
    turn = (await client.post(f"/api/v1/chat/conversations/{conv}/messages", json={"text": "my vpn is broken"},
                              headers=session)).json()
    assert "restarting" in turn["messages"][0]["text"]
    assert turn["messages"][0]["buttons"] == [{"title": "Open a ticket", "payload": "deskmate:open_ticket"}]
    r = await client.post(f"/api/v1/chat/conversations/{conv}/tickets", json={"reason": "assistant_unavailable"},
                          headers=session)
    assert r.status_code == 201, r.text
    ticket = r.json()["ticket"]
    assert ticket["title"] == "my vpn is broken" and ticket["source_type"] == "CHATBOT"
    assert ticket["source_reference"] == conv and ticket["requester_id"] == employee.user.id
    assert "Employee: my vpn is broken" in ticket["description"] and "restarting" in ticket["description"]
    assert ticket["number"] in r.json()["messages"][0]["text"]
    again = await client.post(f"/api/v1/chat/conversations/{conv}/tickets", json={"reason": "assistant_unavailable"},
                              headers=session)
    assert again.status_code == 201 and again.json()["ticket"]["id"] == ticket["id"]  # one ticket per turn
    await client.post(f"/api/v1/chat/conversations/{conv}/messages", json={"text": "and my mail"}, headers=session)
    later = await client.post(f"/api/v1/chat/conversations/{conv}/escalate", json={"reason": "assistant_unavailable"},
                              headers=session)  # the deprecated alias: the same function, a new turn
    assert later.status_code == 201 and later.json()["ticket"]["id"] != ticket["id"]
    mine = (await client.get(f"/api/v1/tickets/{ticket['number']}", headers=employee.headers)).json()
    assert mine["id"] == ticket["id"]


async def test_repeated_escalation_without_new_messages_is_one_ticket(app, client, settings, make_actor, rasa):
    employee = await make_actor()
    conv, session, _ = await _start(client, settings, employee.user.email)
    await client.post(f"/api/v1/chat/conversations/{conv}/messages", json={"text": "printer on fire"}, headers=session)
    async with app.state.pool.connection() as conn:
        first = await tickets.open_ticket(conn, conversation_id=conv, request=TicketRequest(), acting=None)
        second = await tickets.open_ticket(conn, conversation_id=conv, request=TicketRequest(reason="fallback"),
                                           acting=None)
    assert first.ticket.id == second.ticket.id


async def test_anonymous_cannot_escalate(client, settings, rasa):
    conv, session, _ = await _start(client, settings)
    r = await client.post(f"/api/v1/chat/conversations/{conv}/tickets", json={}, headers=session)
    assert r.status_code == 403 and "Sign in" in r.json()["detail"]


async def test_nlu_parse_is_for_staff(client, make_actor, rasa):
    employee, agent = await make_actor(), await make_actor(Role.agent)
    assert (await client.post("/api/v1/nlu/parse", json={"text": "vpn"}, headers=employee.headers)).status_code == 403
    r = await client.post("/api/v1/nlu/parse", json={"text": "vpn"}, headers=agent.headers)
    assert r.status_code == 200 and r.json()["intent"]["name"] == "password_reset"


async def test_unknown_conversation_is_404(client, settings):
    conv = str(uuid.uuid4())
    r = await client.get(f"/api/v1/chat/conversations/{conv}/messages",
                         headers={"X-Chat-Session": sign_session(settings, conv)})
    assert r.status_code == 404


async def test_that_solved_it_records_helpful_feedback_without_asking_rasa(client, conn, settings, make_actor, rasa):
    employee, someone = await make_actor(), await make_actor()
    answers = {}
    for who in (employee, someone):
        row = await (await conn.execute(
            "INSERT INTO kb_answers (user_id, question, mode, confident, answer) "
            "VALUES (%s, 'how do I set up the vpn', 'extractive', true, 'Install GlobalProtect.') RETURNING id",
            (who.user.id,))).fetchone()
        answers[who.user.id] = row["id"]
    conv, session, _ = await _start(client, settings, employee.user.email)
    url = f"/api/v1/chat/conversations/{conv}/messages"
    turn = (await client.post(url, json={"text": f"deskmate:kb_helpful:{answers[employee.user.id]}"},
                              headers=session)).json()
    assert turn["messages"][0]["text"].startswith("Glad that helped!")
    assert rasa.received == []
    rated = await (await conn.execute("SELECT helpful FROM kb_answers WHERE id = %s",
                                      (answers[employee.user.id],))).fetchone()
    assert rated["helpful"] is True
    # someone else's answer is not rated through this conversation
    other = (await client.post(url, json={"text": f"deskmate:kb_helpful:{answers[someone.user.id]}"},
                               headers=session)).json()
    assert "couldn't record" in other["messages"][0]["text"]
    untouched = await (await conn.execute("SELECT helpful FROM kb_answers WHERE id = %s",
                                          (answers[someone.user.id],))).fetchone()
    assert untouched["helpful"] is None
    history = (await client.get(url, headers=session)).json()["messages"]
    assert [m["text"] for m in history if m["direction"] == "user"] == ["That solved it", "That solved it"]


async def test_the_web_endpoint_starts_only_web_conversations(client):
    assert (await client.post("/api/v1/chat/conversations", json={"channel": "web"})).status_code == 201
    assert (await client.post("/api/v1/chat/conversations", json={"channel": "slack"})).status_code == 422


async def test_after_gives_only_the_newer_messages(client, settings, rasa):
    conv, session, _ = await _start(client, settings)
    first = (await client.post(f"/api/v1/chat/conversations/{conv}/messages", json={"text": "hi"},
                               headers=session)).json()["messages"][-1]
    await client.post(f"/api/v1/chat/conversations/{conv}/messages", json={"text": "printer?"}, headers=session)

    newer = await client.get(f"/api/v1/chat/conversations/{conv}/messages", params={"after": first["id"]},
                             headers=session)
    assert [(m["direction"], m["text"]) for m in newer.json()["messages"]] == [
        ("user", "printer?"), ("bot", "Let's reset it.")]
    assert (await client.get(f"/api/v1/chat/conversations/{conv}/messages", params={"after": -1},
                             headers=session)).status_code == 422
