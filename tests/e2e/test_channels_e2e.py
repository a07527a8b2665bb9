"""Issue #12's "done when", through the real processes: the same question asked in the widget, in a Slack DM and in
a Teams chat gets the same answer with the same citations. The real Rasa server and action server answer; an api
process with Slack and Teams configured against the local fakes of their APIs (tests/fakes/slack_server.py,
tests/fakes/bot_framework.py) serves all three channels."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from fakes.bot_framework import activity
from fakes.slack_server import TEAM, signed
from fakes.waiting import wait_until

from api.channels.slack.render import mrkdwn
from api.chat.identity import sign_identity
from api.settings import Settings

if TYPE_CHECKING:
    from conftest import Channels

pytestmark = pytest.mark.e2e

QUESTION = "how do i restore a file i deleted from onedrive"


Answer = tuple[str, list[tuple[str, str]]]  # the answer's text, its citations as (title, url)


async def in_the_widget(api: str, settings: Settings, email: str) -> Answer:
    async with httpx.AsyncClient(base_url=f"{api}/api/v1/chat", timeout=90) as http:
        started = (await http.post("/conversations", json={"identity": sign_identity(settings, email)})
                   ).raise_for_status().json()
        turn = (await http.post(f"/conversations/{started['conversation_id']}/messages", json={"text": QUESTION},
                                headers={"X-Chat-Session": started["session_token"]})).raise_for_status().json()
    [cited] = [m for m in turn["messages"] if m["citations"]]
    return cited["text"], [(c["title"], c["url"]) for c in cited["citations"]]


async def in_slack(c: Channels, email: str) -> Answer:
    user, channel = f"U{uuid.uuid4().hex[:8].upper()}", f"D{uuid.uuid4().hex[:8].upper()}"
    c.slack.add_user(user, email)
    body = json.dumps({"token": "x", "team_id": TEAM, "api_app_id": "A1", "type": "event_callback",
                       "event_id": f"Ev{uuid.uuid4().hex[:12]}", "event_time": 1800000000,
                       "event": {"type": "message", "channel_type": "im", "user": user, "text": QUESTION,
                                 "ts": "1800000000.000100", "channel": channel, "event_ts": "1800000000.000100"}})
    async with httpx.AsyncClient(base_url=c.api, timeout=10) as http:
        acked = await http.post("/slack/events", content=body.encode(), headers=signed(c.signing_secret, body))
    assert acked.status_code == 200, acked.text

    def cited() -> list[dict[str, Any]]:
        return [p for p in c.slack.posts_to(channel) if any(b["type"] == "context" for b in p.get("blocks") or [])]
    await asyncio.to_thread(wait_until, lambda: bool(cited()), 90, "the Slack answer with its sources")
    blocks = cited()[0]["blocks"]
    text = next(b["text"]["text"] for b in blocks if b["type"] == "section")
    sources = next(b["elements"][0]["text"] for b in blocks if b["type"] == "context")
    return text, [(title, url) for url, title in re.findall(r"<([^|>]+)\|([^>]+)>", sources)]


async def in_teams(c: Channels, email: str) -> Answer:
    user = f"29:{uuid.uuid4().hex[:8]}"
    c.teams.members[user] = {"id": user, "userPrincipalName": email}
    body = activity(c.teams, text=QUESTION, user=user, aad=uuid.uuid4().hex)
    async with httpx.AsyncClient(base_url=c.api, timeout=10) as http:
        accepted = await http.post("/teams/messages", json=body,
                                   headers={"Authorization": f"Bearer {c.teams.token()}"})
    assert accepted.status_code == 202, accepted.text

    def cards() -> list[dict[str, Any]]:
        return [a["content"] for p in c.teams.activities if p.conversation_id == body["conversation"]["id"]
                for a in p.body.get("attachments") or [] if len(a["content"]["body"]) > 1]
    await asyncio.to_thread(wait_until, lambda: bool(cards()), 90, "the Teams answer with its sources")
    card = cards()[0]
    text, sources = card["body"][0]["text"], card["body"][1]["text"]
    return text, re.findall(r"\[\d+\] \[([^\]]+)\]\(([^)]+)\)", sources)


async def test_the_same_question_gets_the_same_answer_and_sources_in_every_channel(
        channels: Channels, settings: Settings, make_actor) -> None:  # type: ignore[no-untyped-def]
    employee = await make_actor()
    email = employee.user.email

    widget = await in_the_widget(channels.api, settings, email)
    slack = await in_slack(channels, email)
    teams = await in_teams(channels, email)

    assert widget[1] and any("OneDrive" in title for title, _ in widget[1]), widget
    assert slack == (mrkdwn(widget[0]), widget[1])  # Slack's text is the same answer, escaped as mrkdwn
    assert teams == widget
