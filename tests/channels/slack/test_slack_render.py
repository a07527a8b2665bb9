"""Bot messages as Block Kit, and the Slack user → employee lookup with its cache."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from api.channels.slack.client import web_client
from api.channels.slack.people import SlackPeople
from api.channels.slack.render import blocks, fallback
from api.chat.models import Button, Citation, Link, Message


def _message(**fields) -> Message:
    return Message(id=1, direction="bot", created_at=datetime.now(UTC), **fields)


def test_text_is_escaped_mrkdwn_and_only_web_links_are_links():
    message = _message(text="**Reset** it <!channel> & see [the guide](https://kb.example.com/a?b=1)",
                       buttons=[Button(title="Yes", payload="/affirm"), Button(title="No", payload="/deny")],
                       citations=[Citation(n=1, title="A|B", url="javascript:alert(1)")],
                       links=[Link(title="Portal", url="https://portal.example.com")])
    section, actions, context = blocks(message, conversation_id="c0ffee")
    assert section["text"]["text"] == ("*Reset* it &lt;!channel&gt; &amp; see "
                                       "<https://kb.example.com/a?b=1|the guide>")
    assert actions["block_id"] == "deskmate:c0ffee"
    assert [(b["action_id"], b["value"]) for b in actions["elements"]] == [
        ("deskmate_button_0", "/affirm"), ("deskmate_button_1", "/deny")]
    assert context["elements"][0]["text"] == "[1] A/B  <https://portal.example.com|Portal>"
    assert fallback(message).startswith("**Reset** it &lt;!channel&gt;")
    assert blocks(_message(text="", buttons=[Button(title="Open a ticket", payload="x")]),
                  conversation_id="c")[0]["type"] == "actions"


async def test_a_users_address_is_asked_once_per_ttl(conn, fake_slack, slack_settings, make_actor):
    employee = await make_actor()
    user = f"U{uuid.uuid4().hex[:10].upper()}"
    fake_slack.add_user(user, employee.user.email)
    cached = SlackPeople(web_client(slack_settings.slack), ttl_s=600)
    uncached = SlackPeople(web_client(slack_settings.slack), ttl_s=0)
    before = fake_slack.calls.count("users.info")
    assert [(await cached.employee(conn, user)).id for _ in range(3)] == [employee.user.id] * 3
    assert fake_slack.calls.count("users.info") - before == 1
    assert [(await uncached.employee(conn, user)).id for _ in range(2)] == [employee.user.id] * 2
    assert fake_slack.calls.count("users.info") - before == 3
    await conn.execute("UPDATE users SET active = false, deactivated_at = now() WHERE id = %s", (employee.user.id,))
    assert await cached.employee(conn, user) is None  # the address is cached, the account is looked up each time
