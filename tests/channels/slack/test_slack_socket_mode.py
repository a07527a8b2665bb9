"""Socket Mode: with an app-level token the same events arrive over a WebSocket, are acknowledged and answered."""

from __future__ import annotations

import asyncio
import uuid

from fakes.slack_server import TEAM, FakeSocketMode
from fakes.waiting import wait_until
from pydantic import SecretStr
from slack_app_support import dm, envelope

from api.channels.slack.inbound import ANONYMOUS, SlackChannel


async def test_socket_mode_events_are_acknowledged_and_answered(slack_app, slack_settings, fake_slack, slack_rasa,
                                                                conn):
    app = slack_app[0]
    with FakeSocketMode() as socket:
        fake_slack.socket_url = socket.url
        settings = slack_settings.model_copy(update={"slack": slack_settings.slack.model_copy(
            update={"app_token": SecretStr(fake_slack.app_token)})})
        channel = SlackChannel(settings, app.state)
        await channel.start()
        try:
            assert await asyncio.to_thread(socket.connected.wait, 20)
            event = dm(f"U{uuid.uuid4().hex[:10].upper()}", "hello")
            delivery = envelope(event)
            first, replay = socket.deliver(delivery), socket.deliver(delivery)
            await asyncio.to_thread(wait_until, lambda: {first, replay} <= set(socket.acked), 20, "both acks")
            await asyncio.to_thread(wait_until, lambda: len(fake_slack.posts_to(event["channel"])) >= 2, 20,
                                    "the answer")
        finally:
            await channel.close()
    notice, answer = fake_slack.posts_to(event["channel"])
    assert notice["text"] == ANONYMOUS and answer["text"].startswith("Hi! I'm deskmate.")
    row = await (await conn.execute("SELECT id FROM chat_conversations WHERE channel_key = %s",
                                    (f"{TEAM}:{event['channel']}",))).fetchone()
    assert [r["message"] for r in slack_rasa.received if r.get("sender") == str(row["id"])] == ["hello"]
