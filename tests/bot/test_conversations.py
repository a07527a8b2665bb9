"""Whole conversations through the trained model and the real action server.

Loads bot/models/deskmate.tar.gz in-process (rasa Agent), starts the rasa_sdk action
server on a free port and a fake deskmate api, then talks to the bot like the gateway
does (user text + metadata). Skipped when no model was trained (scripts/train_bot.sh).
"""
from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import TOKEN, FakeApi, serve_fake_api

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "bot" / "models" / "deskmate.tar.gz"
if not MODEL.exists():
    pytest.skip(f"no trained model at {MODEL}; run scripts/train_bot.sh", allow_module_level=True)

from rasa.core.agent import Agent  # noqa: E402  (heavy import, only with a model)
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage  # noqa: E402
from rasa.utils.endpoints import EndpointConfig  # noqa: E402

EMAIL = "grace@example.com"
TICKET = {"id": 42, "number": "INC-000042", "title": "Docking station", "status": "new",
          "priority": 2}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_healthy(url: str, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"action server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"action server not healthy after {timeout}s")


class Bot:
    """Talks to the agent the way the api gateway does."""

    def __init__(self, agent: Agent, api: FakeApi) -> None:
        self.agent, self.api = agent, api
        self.loop = asyncio.new_event_loop()

    def say(self, sender: str, text: str, *, email: str | None = EMAIL) -> list[dict[str, Any]]:
        metadata = {"conversation_id": sender}
        if email:
            metadata["employee_email"] = email
        channel = CollectingOutputChannel()
        message = UserMessage(text, channel, sender, metadata=metadata)
        self.loop.run_until_complete(self.agent.handle_message(message))
        return channel.messages

    @staticmethod
    def text(messages: list[dict[str, Any]]) -> str:
        return " ".join(m.get("text") or "" for m in messages)


@pytest.fixture(scope="module")
def bot() -> Iterator[Bot]:
    with serve_fake_api() as api:
        port = _free_port()
        env = {**os.environ, "DESKMATE_API_URL": api.url, "DESKMATE_SERVICE_TOKEN": TOKEN,
               "SANIC_HOST": "127.0.0.1"}
        server = subprocess.Popen(
            [sys.executable, "-m", "rasa_sdk", "--actions", "actions", "--port", str(port)],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            _wait_healthy(f"http://127.0.0.1:{port}/health", server)
            agent = Agent.load(
                str(MODEL), action_endpoint=EndpointConfig(f"http://127.0.0.1:{port}/webhook")
            )
            yield Bot(agent, api)
        finally:
            server.terminate()
            server.wait(timeout=10)


@pytest.fixture(autouse=True)
def fresh_api(bot: Bot) -> None:
    bot.api.requests.clear()
    bot.api.routes.clear()
    bot.api.on("POST", "/api/v1/tickets", 201, TICKET)
    bot.api.on("GET", "/api/v1/tickets", 200, {"items": [TICKET], "next_cursor": None})
    bot.api.problem("POST", "/api/v1/kb/answer", 503, "Service Unavailable")


def test_problem_then_ticket_form_opens_a_ticket(bot: Bot):
    s = "conv-ticket"
    assert "ticket" in bot.text(bot.say(s, "my laptop screen is cracked"))
    assert "what's the problem" in bot.text(bot.say(s, "yes please"))
    assert "more detail" in bot.text(bot.say(s, "The docking station doesn't charge my laptop"))
    urgency = bot.say(s, "the screen stays black when I plug it in")
    assert "How urgent" in bot.text(urgency)
    assert [b["title"] for b in urgency[0]["buttons"]][0].startswith("High")
    confirm = bot.text(bot.say(s, "it's urgent, I can't work"))
    assert "The docking station doesn't charge my laptop" in confirm and "high" in confirm

    done = bot.text(bot.say(s, "yes"))

    assert "INC-000042" in done
    [req] = bot.api.requests
    assert req.headers["x-on-behalf-of"] == EMAIL
    assert req.headers["idempotency-key"].startswith(f"{s}:")
    assert (req.body["title"], req.body["urgency"]) == (
        "The docking station doesn't charge my laptop", 1)
    assert req.body["integration_metadata"]["intent"] == "hardware_problem"


def test_stop_discards_the_form_and_its_answers(bot: Bot):
    s = "conv-stop"
    bot.say(s, "I'd like to open a ticket")
    bot.say(s, "my monitor flickers all the time")
    assert "stopped" in bot.text(bot.say(s, "stop"))
    assert "what's the problem" in bot.text(bot.say(s, "open a ticket"))  # asks from scratch
    assert bot.api.requests == []


def test_bot_challenge_inside_a_form_resumes_it(bot: Bot):
    s = "conv-interrupt"
    bot.say(s, "I'd like to open a ticket")
    reply = bot.text(bot.say(s, "are you a bot?"))
    assert "automated assistant" in reply and "what's the problem" in reply


def test_status_of_my_last_ticket(bot: Bot):
    reply = bot.text(bot.say("conv-status", "how is my last ticket doing"))

    assert reply == 'INC-000042 "Docking station" is new (priority P2).'
    assert bot.api.requests[0].query == {"requester": ["me"], "limit": ["1"]}


def test_software_request_becomes_a_request_ticket(bot: Bot):
    s = "conv-software"
    assert "What do you need it for" in bot.text(bot.say(s, "I need Visio installed"))
    assert "INC-000042" in bot.text(bot.say(s, "for the monthly reporting"))
    body = bot.api.requests[0].body
    assert (body["type"], body["title"]) == ("request", "Software request: visio")


def test_anonymous_user_is_asked_to_sign_in(bot: Bot):
    reply = bot.text(bot.say("conv-anon", "I want to talk to a human", email=None))

    assert "signed-in" in reply
    assert bot.api.requests == []


def test_knowledge_base_down_offers_a_ticket(bot: Bot):
    messages = bot.say("conv-kb", "how do I share my calendar with my team")

    assert "can't search the knowledge base" in bot.text(messages)
    assert {b["payload"] for b in messages[0]["buttons"]} == {"/open_ticket", "/human_handoff"}


def test_two_low_confidence_turns_offer_options(bot: Bot):
    s = "conv-fallback"
    first = bot.text(bot.say(s, "the issue came back after the reboot"))
    second = bot.say(s, "same as before really")

    assert "other words" in first
    assert [b["payload"] for b in second[0]["buttons"]] == [
        "/ask_question", "/open_ticket", "/human_handoff"]
