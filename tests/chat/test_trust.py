"""The bot path cannot be used to act as someone else: per-turn assertions, checked by the api (issue #9 item 1).

The action server's service token acts for an employee only with a valid assertion for a conversation of
that employee; without one it is an anonymous visitor. Plus the nesting of the hop timeouts (item 7).
"""

from __future__ import annotations

import jwt
import pytest
import yaml
from chat_support import start as _start
from pydantic import ValidationError

from api.auth import assertions
from api.auth.models import Role
from api.chat.rasa import channel_secret
from api.dev import stack
from api.settings import REPO_ROOT, Settings

TICKET = {"reason": "form", "summary": "Need Visio installed", "urgency": 2, "type": "request",
          "details": {"software": "Visio"}}


def bot(service, token: str | None) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return service.headers | ({"X-Deskmate-Assertion": token} if token else {})


async def _tickets_of(client, actor) -> list[dict]:  # type: ignore[no-untyped-def]
    return (await client.get("/api/v1/tickets", params={"requester": "me"}, headers=actor.headers)).json()["items"]


async def test_the_turns_assertion_lets_the_action_server_act_for_the_conversations_employee(
        client, settings, make_actor, rasa):
    service, employee, admin = await make_actor(Role.service), await make_actor(), await make_actor(Role.admin)
    conv, session, _ = await _start(client, settings, employee.user.email)
    await client.post(f"/api/v1/chat/conversations/{conv}/messages", json={"text": "I need Visio"}, headers=session)
    token = assertions.mint(settings, subject=employee.user.email, conversation_id=conv)

    me = (await client.get("/api/v1/me", headers=bot(service, token))).json()
    r = await client.post(f"/api/v1/chat/conversations/{conv}/tickets", json=TICKET, headers=bot(service, token))

    assert me["id"] == employee.user.id and me["role"] == "employee" and me["via_service_id"] == service.user.id
    assert r.status_code == 201, r.text
    ticket = r.json()["ticket"]
    assert (ticket["title"], ticket["type"], ticket["urgency"]) == ("Need Visio installed", "request", 2)
    assert ticket["requester_id"] == employee.user.id
    assert "Software: Visio" in ticket["description"] and "Employee: I need Visio" in ticket["description"]
    assert r.json()["messages"] == []  # the bot says it in its own reply; stored once, with the turn
    events = (await client.get(f"/api/v1/tickets/{ticket['id']}/events", headers=admin.headers)).json()
    assert events[0]["meta"] == {"via_service_id": service.user.id}


async def test_a_bare_on_behalf_of_header_is_refused(client, settings, make_actor, rasa):
    service, employee = await make_actor(Role.service), await make_actor()
    conv, _, _ = await _start(client, settings, employee.user.email)
    token = assertions.mint(settings, subject=employee.user.email, conversation_id=conv)
    on_behalf = {"X-On-Behalf-Of": employee.user.email}

    bare = await client.post("/api/v1/tickets", json={"title": "as you", "source_type": "CHATBOT"},
                             headers=service.headers | on_behalf)
    with_assertion = await client.get("/api/v1/me", headers=bot(service, token) | on_behalf)
    escalation = await client.post(f"/api/v1/chat/conversations/{conv}/tickets", json=TICKET,
                                   headers=service.headers | on_behalf)

    assert bare.status_code == with_assertion.status_code == escalation.status_code == 403
    assert "X-On-Behalf-Of" in bare.json()["detail"]
    assert await _tickets_of(client, employee) == []


async def test_an_expired_assertion_is_refused(client, settings, make_actor, rasa):
    service, employee = await make_actor(Role.service), await make_actor()
    conv, _, _ = await _start(client, settings, employee.user.email)
    expired = assertions.mint(settings, subject=employee.user.email, conversation_id=conv, ttl_s=-1)

    r = await client.post(f"/api/v1/chat/conversations/{conv}/tickets", json=TICKET, headers=bot(service, expired))

    assert r.status_code == 401 and "expired" in r.json()["detail"]
    assert await _tickets_of(client, employee) == []


async def test_an_assertion_replayed_for_another_conversation_is_refused(client, settings, make_actor, rasa):
    service, employee, victim = await make_actor(Role.service), await make_actor(), await make_actor()
    mine, _, _ = await _start(client, settings, employee.user.email)
    also_mine, _, _ = await _start(client, settings, employee.user.email)
    theirs, _, _ = await _start(client, settings, victim.user.email)
    token = assertions.mint(settings, subject=employee.user.email, conversation_id=mine)
    forged_subject = assertions.mint(settings, subject=victim.user.email, conversation_id=mine)

    replayed = [await client.post(f"/api/v1/chat/conversations/{other}/tickets", json=TICKET,
                                  headers=bot(service, token)) for other in (also_mine, theirs)]
    wrong_owner = await client.get("/api/v1/tickets", headers=bot(service, forged_subject))

    assert [r.status_code for r in replayed] == [403, 403]
    assert wrong_owner.status_code == 403
    assert await _tickets_of(client, employee) == [] and await _tickets_of(client, victim) == []


async def test_assertions_with_a_wrong_audience_or_key_are_refused(client, settings, make_actor, rasa):
    service, employee = await make_actor(Role.service), await make_actor()
    conv, _, _ = await _start(client, settings, employee.user.email)
    good = jwt.decode(assertions.mint(settings, subject=employee.user.email, conversation_id=conv),
                      options={"verify_signature": False})
    wrong_audience = jwt.encode(good | {"aud": "deskmate-api"}, assertions._key(settings), algorithm="HS256")
    master_key = jwt.encode(good, settings.effective_secret_key(), algorithm="HS256")
    unsigned = jwt.encode(good, None, algorithm="none")

    answers = [await client.get("/api/v1/tickets", headers=bot(service, token))
               for token in (wrong_audience, master_key, unsigned)]

    assert [r.status_code for r in answers] == [401, 401, 401]
    with pytest.raises(Exception, match="not meant"):
        assertions.verify(settings, wrong_audience)


async def test_a_service_token_without_assertion_is_an_anonymous_visitor(client, make_actor):
    service = await make_actor(Role.service)

    tickets = await client.get("/api/v1/tickets", headers=service.headers)
    create = await client.post("/api/v1/tickets", json={"title": "as the bot", "source_type": "CHATBOT"},
                               headers=service.headers)
    answer = await client.post("/api/v1/kb/answer", json={"question": "how do I reset my password"},
                               headers=service.headers)

    assert tickets.status_code == create.status_code == 403
    assert answer.status_code == 200, answer.text  # anonymous widget users may ask the knowledge base


def test_hop_timeouts_must_nest() -> None:
    ok = Settings(env="test", _env_file=None)  # type: ignore[call-arg]
    assert ok.llm_timeout_s * (1 + ok.llm_max_retries) < ok.actions_api_timeout_s < ok.rasa_action_timeout_s \
        < ok.rasa_timeout_s
    for bad in ({"rasa_timeout_s": 10}, {"actions_api_timeout_s": 26}, {"llm_timeout_s": 15}):
        with pytest.raises(ValidationError, match="timeouts must nest"):
            Settings(env="test", _env_file=None, **bad)  # type: ignore[arg-type]


async def test_a_slow_assistant_is_reported_as_slow_and_its_ticket_is_not_duplicated(
        client, settings, make_actor, rasa):
    service, employee = await make_actor(Role.service), await make_actor()
    conv, session, _ = await _start(client, settings, employee.user.email)
    rasa.slow = True
    turn = (await client.post(f"/api/v1/chat/conversations/{conv}/messages", json={"text": "my dock is dead"},
                              headers=session)).json()
    # meanwhile the bot's action, still running in that turn, opens the ticket
    token = assertions.mint(settings, subject=employee.user.email, conversation_id=conv)
    by_bot = await client.post(f"/api/v1/chat/conversations/{conv}/tickets", json={"reason": "form"},
                               headers=bot(service, token))
    by_button = await client.post(f"/api/v1/chat/conversations/{conv}/tickets",
                                  json={"reason": "assistant_unavailable"}, headers=session)

    assert "taking longer than usual" in turn["messages"][0]["text"]
    assert "restarting" not in turn["messages"][0]["text"]
    assert turn["messages"][0]["buttons"] == [{"title": "Open a ticket", "payload": "deskmate:open_ticket"}]
    assert by_bot.status_code == by_button.status_code == 201
    assert by_button.json()["ticket"]["id"] == by_bot.json()["ticket"]["id"]
    assert len(await _tickets_of(client, employee)) == 1


async def test_after_rasa_comes_back_the_same_conversation_continues(client, settings, make_actor, rasa):
    employee = await make_actor()
    conv, session, _ = await _start(client, settings, employee.user.email)
    url = f"/api/v1/chat/conversations/{conv}/messages"
    rasa.down = True
    down = (await client.post(url, json={"text": "my vpn is broken"}, headers=session)).json()
    rasa.down = False
    back = (await client.post(url, json={"text": "are you back?"}, headers=session)).json()

    assert "restarting" in down["messages"][0]["text"]
    assert back["messages"][0]["text"] == "Let's reset it."
    assert [m["sender"] for m in rasa.received] == [conv]
    history = (await client.get(url, headers=session)).json()["messages"]
    assert [m["text"] for m in history if m["direction"] == "user"] == ["my vpn is broken", "are you back?"]



def test_procfile_deskmate_run_and_the_bot_config_agree(settings: Settings) -> None:
    """Every bot process binds loopback, Rasa's only channel is deskmate's, and both secrets reach the processes."""
    procfile = dict(line.split(": ", 1) for line in (REPO_ROOT / "Procfile").read_text().splitlines() if line)
    env = stack.process_env(settings, database_url="postgresql://x/y", tracker_url="postgresql://x/y", bot_token="t")
    credentials = yaml.safe_load((REPO_ROOT / "bot" / "credentials.yml").read_text())
    endpoints = (REPO_ROOT / "bot" / "endpoints.yml").read_text()

    assert "--interface 127.0.0.1" in procfile["rasa"] and "PYTHONPATH=." in procfile["rasa"]
    assert "-m actions.server --host 127.0.0.1" in procfile["actions"] and "rasa_sdk" not in procfile["actions"]
    assert list(credentials) == ["bot.channel.DeskmateInput"]  # no `rest:`, whose webhook anyone may call
    assert credentials["bot.channel.DeskmateInput"] == {"secret": "${DESKMATE_RASA_CHANNEL_SECRET}"}
    assert "X-Deskmate-Actions-Secret: ${DESKMATE_ACTIONS_SECRET}" in endpoints
    assert env["DESKMATE_RASA_CHANNEL_SECRET"] == channel_secret(settings)
    assert env["DESKMATE_ACTIONS_SECRET"] == stack.actions_secret(settings) != env["DESKMATE_RASA_CHANNEL_SECRET"]
    assert env["SANIC_HOST"] == "127.0.0.1"
    assert "DESKMATE_ASSERTION_KEY" not in env  # only the api needs it, and reads it itself
    assert float(env["DESKMATE_RASA_ACTION_TIMEOUT_S"]) < settings.rasa_timeout_s
    assert float(env["DESKMATE_ACTIONS_API_TIMEOUT_S"]) < float(env["DESKMATE_RASA_ACTION_TIMEOUT_S"])
