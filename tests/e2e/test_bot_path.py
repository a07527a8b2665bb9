"""The bot path as an attacker and as an operator see it, against real processes (issue #9 items 1 and 9).

- Forged requests straight to the action server and straight to Rasa are refused and change nothing
  (the real action server and the real Rasa server, started as the Procfile does).
- Rasa killed mid-conversation: the message is kept, the user hears "restarting" with a ticket option, and
  the same conversation continues once Rasa is back (the fake Rasa as a process, killed and restarted).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import httpx
import pytest
from e2e_support import CHANNEL_SECRET

if TYPE_CHECKING:
    from conftest import FakeRasaProcess, Stack

from api.auth.models import Role
from api.chat.identity import sign_identity


async def _start(client: httpx.AsyncClient, settings, email: str | None) -> tuple[str, dict[str, str]]:  # type: ignore[no-untyped-def]
    body = {"identity": sign_identity(settings, email)} if email else {}
    started = (await client.post("/api/v1/chat/conversations", json=body)).raise_for_status().json()
    return started["conversation_id"], {"X-Chat-Session": started["session_token"]}


def _forged_action_call(conversation_id: str, email: str) -> dict:  # type: ignore[type-arg]
    """What an attacker would send to the action server: "open a ticket, confirmed, for this person"."""
    metadata = {"employee_email": email, "conversation_id": conversation_id, "channel": "web",
                "assertion": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJmb3JnZWQifQ.forged"}
    latest = {"text": "yes", "intent": {"name": "affirm", "confidence": 1.0}, "entities": [], "metadata": metadata}
    return {"next_action": "action_open_ticket", "sender_id": conversation_id, "version": "3.6.21",
            "domain": {"forms": {}}, "tracker": {
                "sender_id": conversation_id, "latest_message": latest, "latest_action_name": "action_listen",
                "slots": {"summary": "Please wipe my laptop", "description": "forged", "urgency": "high",
                          "confirm_ticket": True},
                "events": [{"event": "user", **latest}], "paused": False, "followup_action": None,
                "active_loop": {}}}


async def _tickets_of(base_url: str, actor) -> list[dict]:  # type: ignore[no-untyped-def,type-arg]
    async with httpx.AsyncClient(base_url=base_url, headers=actor.headers) as client:
        return (await client.get("/api/v1/tickets", params={"requester": "me"})).raise_for_status().json()["items"]


@pytest.mark.e2e
async def test_a_forged_call_to_the_action_server_is_refused(real_processes: Stack, settings, make_actor) -> None:  # type: ignore[no-untyped-def]
    victim = await make_actor()
    conversation = str(uuid.uuid4())
    async with httpx.AsyncClient(base_url=real_processes.actions) as client:
        bare = await client.post("/webhook", json=_forged_action_call(conversation, victim.user.email))
        wrong = await client.post("/webhook", json=_forged_action_call(conversation, victim.user.email),
                                  headers={"X-Deskmate-Actions-Secret": "guessed"})
        listing = await client.get("/actions")
        health = await client.get("/health")

    assert bare.status_code == wrong.status_code == listing.status_code == 403
    assert health.status_code == 200
    assert await _tickets_of(real_processes.api, victim) == []


@pytest.mark.e2e
async def test_a_forged_message_to_rasa_is_refused(real_processes: Stack, settings, make_actor) -> None:  # type: ignore[no-untyped-def]
    victim = await make_actor()
    async with httpx.AsyncClient(base_url=real_processes.api) as api:
        conversation, _ = await _start(api, settings, victim.user.email)
    forged = {"sender": conversation, "message": "I want to talk to a human",
              "metadata": {"employee_email": victim.user.email, "conversation_id": conversation, "channel": "web"}}
    async with httpx.AsyncClient(base_url=real_processes.rasa, timeout=60) as rasa:
        rest = await rasa.post("/webhooks/rest/webhook", json=forged)
        bare = await rasa.post("/webhooks/deskmate/webhook", json=forged)
        wrong = await rasa.post("/webhooks/deskmate/webhook", json=forged,
                                headers={"X-Deskmate-Channel-Secret": "guessed"})
        # Even with the channel secret, metadata naming someone is not a signature: the bot treats the turn as
        # anonymous and the action server opens nothing.
        inside = await rasa.post("/webhooks/deskmate/webhook", json=forged,
                                 headers={"X-Deskmate-Channel-Secret": CHANNEL_SECRET})

    assert rest.status_code == 404  # Rasa's unauthenticated REST channel is not enabled
    assert bare.status_code == wrong.status_code == 403
    assert inside.status_code == 200
    assert "signed-in" in " ".join(m.get("text") or "" for m in inside.json()["messages"])
    assert await _tickets_of(real_processes.api, victim) == []


@pytest.mark.e2e
async def test_the_real_bot_opens_a_hand_off_ticket_for_the_signed_in_employee(
        real_processes: Stack, settings, make_actor) -> None:  # type: ignore[no-untyped-def]
    employee = await make_actor()
    async with httpx.AsyncClient(base_url=real_processes.api, timeout=60) as api:
        conversation, session = await _start(api, settings, employee.user.email)
        turn = (await api.post(f"/api/v1/chat/conversations/{conversation}/messages", headers=session,
                               json={"text": "I want to talk to a human, my docking station is broken"})).json()
        history = (await api.get(f"/api/v1/chat/conversations/{conversation}/messages", headers=session)).json()

    [ticket] = await _tickets_of(real_processes.api, employee)
    assert ticket["number"] in " ".join(m["text"] for m in turn["messages"])
    assert turn["intent"] == "human_handoff"  # from the channel's answer, no second request
    confirmations = [m for m in history["messages"] if m["ticket_number"] == ticket["number"]]
    assert len(confirmations) == 1  # the hand-off confirmation is stored once, linked to the ticket


async def test_rasa_killed_mid_conversation_then_back(
        restartable_rasa: tuple[str, FakeRasaProcess], settings, make_actor) -> None:  # type: ignore[no-untyped-def]
    api_url, rasa = restartable_rasa
    employee = await make_actor(Role.employee)
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as api:
        conversation, session = await _start(api, settings, employee.user.email)
        url = f"/api/v1/chat/conversations/{conversation}/messages"
        before = (await api.post(url, json={"text": "hello"}, headers=session)).json()
        rasa.kill()
        try:
            during = (await api.post(url, json={"text": "my laptop will not start"}, headers=session)).json()
        finally:
            rasa.start()
        after = (await api.post(url, json={"text": "are you back?"}, headers=session)).json()
        history = (await api.get(url, headers=session)).json()["messages"]

    assert before["messages"][0]["text"].startswith("Hi! I'm deskmate")
    assert "restarting" in during["messages"][0]["text"]
    assert during["messages"][0]["buttons"] == [{"title": "Open a ticket", "payload": "deskmate:open_ticket"}]
    assert after["messages"][0]["text"] == "You said: are you back?"
    assert [m["text"] for m in history if m["direction"] == "user"] == [
        "hello", "my laptop will not start", "are you back?"]
