"""Chat fixtures: a fake of Rasa's deskmate channel in front of the app, and conversation starters."""

from __future__ import annotations

import json

import httpx
import pytest

from api.chat.rasa import SECRET_HEADER, RasaClient, channel_secret


class FakeRasa:
    """Answers deskmate's input channel (bot/channel.py) and NLU parse like Rasa 3.6 does (specs/rasa.md).

    Like the real channel it refuses a request without the channel secret (403) or without a string ``sender``
    and ``message`` (400).
    """

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.received: list[dict] = []
        self.replies: list[dict] = [{"text": "Let's reset it.", "buttons": [{"title": "Yes", "payload": "/affirm"}]}]
        self.intent = {"name": "password_reset", "confidence": 0.97}
        self.down = False
        self.slow = False

    def handler(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        if self.slow:
            raise httpx.ReadTimeout("timed out", request=request)
        if request.url.path == "/webhooks/deskmate/webhook":
            if request.headers.get(SECRET_HEADER) != self.secret:
                return httpx.Response(403, json={"error": "forbidden"})
            body = json.loads(request.content)
            if not isinstance(body.get("sender"), str) or not isinstance(body.get("message"), str):
                return httpx.Response(400, json={"error": "sender and message are required"})
            self.received.append(body)
            return httpx.Response(200, json={
                "messages": [{"recipient_id": body["sender"], **r} for r in self.replies], "intent": self.intent})
        if request.url.path == "/webhooks/deskmate/parse":
            if request.headers.get(SECRET_HEADER) != self.secret:
                return httpx.Response(403, json={"error": "forbidden"})
            body = json.loads(request.content)
            self.received.append({"parse": body["text"], "metadata": body.get("metadata")})
            text = body["text"]
            return httpx.Response(200, json={"text": text, "intent": self.intent, "intent_ranking": [self.intent],
                                             "entities": []})
        return httpx.Response(404)


@pytest.fixture
async def rasa(app, settings):
    fake = FakeRasa(channel_secret(settings))
    original = app.state.rasa
    app.state.rasa = RasaClient("http://rasa.test", channel_secret=fake.secret,
                                transport=httpx.MockTransport(fake.handler))
    yield fake
    await app.state.rasa.aclose()
    app.state.rasa = original
