"""Helpers of the Slack tests: Slack's requests to the app, signed, and waiting for the app's replies."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
from fakes.rasa_server import FakeRasa
from fakes.slack_server import TEAM, FakeSlack, interaction_body, signed
from fakes.waiting import wait_until

from api.settings import Settings

SIGNING_SECRET = "slack-signing-secret-for-tests"


class Slack:
    """Sends Slack's requests to the app and watches what the app sends back to the fake."""

    def __init__(self, http: httpx.AsyncClient, fake: FakeSlack, rasa: FakeRasa, settings: Settings) -> None:
        self.http, self.fake, self.rasa, self.settings = http, fake, rasa, settings

    async def send(self, path: str, body: str, *, content_type: str = "application/json", secret: str = SIGNING_SECRET,
                   at: float | None = None, **headers: str) -> httpx.Response:
        return await self.http.post(path, content=body.encode(), headers=signed(
            secret, body, content_type=content_type, at=at, **headers))

    async def event(self, event: dict[str, Any], *, event_id: str | None = None, team: str = TEAM,
                    **kwargs: Any) -> httpx.Response:
        return await self.send("/slack/events", json.dumps(envelope(event, event_id=event_id, team=team)), **kwargs)

    async def press(self, payload: dict[str, Any], **kwargs: Any) -> httpx.Response:
        return await self.send("/slack/interactions", interaction_body(payload),
                               content_type="application/x-www-form-urlencoded", **kwargs)

    async def posts(self, channel: str, count: int) -> list[dict[str, Any]]:
        """The app's first ``count`` messages to ``channel``, once they are there (turns run in the background)."""
        await asyncio.to_thread(wait_until, lambda: len(self.fake.posts_to(channel)) >= count, 60,
                                f"{count} Slack message(s) to {channel}")
        return self.fake.posts_to(channel)


def envelope(event: dict[str, Any], *, event_id: str | None = None, team: str = TEAM) -> dict[str, Any]:
    """The Events API's event_callback around ``event``."""
    return {"token": "x", "team_id": team, "api_app_id": "A1", "type": "event_callback",
            "event_id": event_id or f"Ev{uuid.uuid4().hex[:12]}", "event_time": 1800000000,
            "authorizations": [{"team_id": team, "user_id": "UBOT", "is_bot": True}], "event": event}


def dm(user: str, text: str, *, channel: str | None = None, **fields: Any) -> dict[str, Any]:
    """A DM from ``user`` as a message.im event."""
    return {"type": "message", "channel_type": "im", "user": user, "text": text, "ts": "1800000000.000100",
            "channel": channel or f"D{uuid.uuid4().hex[:10].upper()}", "event_ts": "1800000000.000100", **fields}
