"""The Slack channel end to end: signed requests to the app, turns through the fake Rasa server, replies to the
fake Slack Web API (../shared/specs/slack.md)."""

from __future__ import annotations

import json
import logging
import time
import uuid

from fakes.slack_server import TEAM
from slack_app_support import SIGNING_SECRET, dm

from api.auth import assertions
from api.channels.slack.inbound import ANONYMOUS, NOT_YOURS, SORRY


def new_user() -> str:
    return f"U{uuid.uuid4().hex[:10].upper()}"


async def conversation(conn, key: str) -> dict | None:
    return await (await conn.execute(
        "SELECT * FROM chat_conversations WHERE channel = 'slack' AND channel_key = %s", (key,))).fetchone()


async def test_slack_is_off_without_its_settings(client):
    for path in ("/slack/events", "/slack/interactions"):
        r = await client.post(path, json={"type": "url_verification", "challenge": "c"})
        assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
        assert "Slack is not configured" in r.json()["detail"]


async def test_url_verification_is_answered(slack):
    r = await slack.send("/slack/events", json.dumps({"token": "x", "challenge": "3eZbrw1aB", "type": "url_verification"}))
    assert r.status_code == 200 and r.json() == {"challenge": "3eZbrw1aB"}


async def test_forged_and_stale_requests_are_refused_and_store_nothing(slack, conn):
    user, event = new_user(), dm(new_user(), "hello")
    event["user"] = user
    forged = await slack.event(event, event_id="EvForged1", secret="not-the-secret")
    stale = await slack.event(event, event_id="EvStale1", at=time.time() - 301)
    assert (forged.status_code, stale.status_code) == (401, 401)
    assert await conversation(conn, f"{TEAM}:{event['channel']}") is None
    seen = await (await conn.execute("SELECT count(*) AS n FROM channel_inbound WHERE event_id IN "
                                     "('EvForged1', 'EvStale1')")).fetchone()
    assert seen["n"] == 0
    assert slack.fake.posts_to(event["channel"]) == []


async def test_a_dm_is_answered_with_citations_and_buttons(slack, conn, make_actor):
    employee = await make_actor()
    user = new_user()
    slack.fake.add_user(user, employee.user.email.upper())  # Slack's address, matched case-insensitively
    event = dm(user, "show me links")
    assert (await slack.event(event)).status_code == 200
    [answer] = await slack.posts(event["channel"], 1)
    assert answer.get("thread_ts") is None  # a DM is one conversation: replies go to the DM itself
    section, context = answer["blocks"]
    assert section["type"] == "section" and section["text"]["type"] == "mrkdwn"
    assert "<https://intranet.example.com/it/faq|the FAQ>" in section["text"]["text"]
    assert answer["text"].startswith("The VPN guide is at")  # the fallback
    sources = context["elements"][0]["text"]
    assert context["type"] == "context" and "[1] <https://kb.example.com/vpn|Connecting to the VPN>" in sources
    assert "[2] VPN troubleshooting" in sources and "javascript:" not in sources
    row = await conversation(conn, f"{TEAM}:{event['channel']}")
    assert row["employee_id"] == employee.user.id and row["channel_user"] == user
    assert row["channel_ref"] == {"team": TEAM, "channel": event["channel"], "thread_ts": None}
    sent = [r for r in slack.rasa.received if r.get("sender") == str(row["id"])]
    assert [r["message"] for r in sent] == ["show me links"] and sent[0]["metadata"]["channel"] == "slack"
    assert assertions.verify(slack.settings, sent[0]["metadata"]["assertion"]).subject == employee.user.email

    assert (await slack.event({**event, "text": "hello", "ts": "1800000000.000200"})).status_code == 200
    buttons = (await slack.posts(event["channel"], 2))[1]["blocks"][1]
    assert buttons["type"] == "actions" and buttons["block_id"] == f"deskmate:{row['id']}"
    assert [(b["text"]["text"], b["value"]) for b in buttons["elements"]] == [("Yes, it did", "/affirm"), ("No", "/deny")]
    assert len({b["action_id"] for b in buttons["elements"]}) == 2


async def test_a_mention_is_answered_in_its_thread(slack, conn):
    user, channel = new_user(), f"C{uuid.uuid4().hex[:8].upper()}"
    slack.fake.add_user(user, None)
    mention = {"type": "app_mention", "user": user, "text": "<@UBOT> hello", "ts": "1800000001.000001",
               "channel": channel, "event_ts": "1800000001.000001"}
    assert (await slack.event(mention)).status_code == 200
    notice, answer = await slack.posts(channel, 2)
    assert notice["text"] == ANONYMOUS and {notice["thread_ts"], answer["thread_ts"]} == {"1800000001.000001"}
    row = await conversation(conn, f"{TEAM}:{channel}:1800000001.000001")
    assert [r["message"] for r in slack.rasa.received if r.get("sender") == str(row["id"])] == ["hello"]
    assert row["employee_id"] is None

    someone_else = {**mention, "user": new_user(), "text": "<@UBOT> /affirm", "ts": "1800000001.000009",
                    "thread_ts": "1800000001.000001"}
    await slack.event(someone_else)
    assert (await slack.posts(channel, 3))[2]["text"] == NOT_YOURS
    assert [r["message"] for r in slack.rasa.received if r.get("sender") == str(row["id"])] == ["hello"]


async def test_a_retried_event_is_one_turn_and_a_replay_is_refused(slack, conn):
    user = new_user()
    slack.fake.add_user(user, None)
    event = dm(user, "first")
    first = await slack.event(event, event_id="EvOnce" + user)
    replay = await slack.event(event, event_id="EvOnce" + user)
    retry = await slack.event(event, event_id="EvOnce" + user, **{"X-Slack-Retry-Num": "1",
                                                                    "X-Slack-Retry-Reason": "http_timeout"})
    assert [r.status_code for r in (first, replay, retry)] == [200, 401, 200]  # a replay has no retry header
    await slack.event({**event, "text": "second"})  # the conversation's turns run in order: this one comes last
    await slack.posts(event["channel"], 3)  # the notice and two answers
    row = await conversation(conn, f"{TEAM}:{event['channel']}")
    assert [r["message"] for r in slack.rasa.received if r.get("sender") == str(row["id"])] == ["first", "second"]


async def test_bot_messages_and_other_workspaces_are_ignored(slack, conn):
    user = new_user()
    slack.fake.add_user(user, None)
    event = dm(user, "hello")
    for ignored in ({**event, "bot_id": "BOTHER", "text": "from a bot"},
                    {**event, "subtype": "message_changed", "text": "edited"},
                    {**event, "channel_type": "channel", "text": "in a channel"}):
        assert (await slack.event(ignored)).status_code == 200
    assert (await slack.event({**event, "text": "elsewhere"}, team="T2")).status_code == 200
    assert (await slack.event(event)).status_code == 200
    await slack.posts(event["channel"], 2)
    row = await conversation(conn, f"{TEAM}:{event['channel']}")
    assert [r["message"] for r in slack.rasa.received if r.get("sender") == str(row["id"])] == ["hello"]
    assert await conversation(conn, f"T2:{event['channel']}") is None


async def test_an_unknown_user_is_told_once_and_anonymous(slack, conn, make_actor):
    stranger = new_user()  # users.info: user_not_found
    event = dm(stranger, "hello")
    await slack.event(event)
    await slack.event({**event, "text": "/deny", "ts": "1800000000.000300"})
    texts = [p["text"] for p in await slack.posts(event["channel"], 3)]
    assert texts[0] == ANONYMOUS and texts.count(ANONYMOUS) == 1
    row = await conversation(conn, f"{TEAM}:{event['channel']}")
    assert row["employee_id"] is None and row["channel_user"] == stranger
    sent = [r for r in slack.rasa.received if r.get("sender") == str(row["id"])]
    assert [r["metadata"]["assertion"] for r in sent] == [None, None]


async def test_a_failed_turn_tells_the_user(slack):
    user = new_user()
    slack.fake.failing_users[user] = "fatal_error"
    event = dm(user, "hello")
    await slack.event(event)
    [sorry] = await slack.posts(event["channel"], 1)
    assert sorry["text"] == SORRY


async def test_a_button_press_is_the_next_turn_and_only_its_owner_may_press(slack, conn):
    user = new_user()
    slack.fake.add_user(user, None)
    event = dm(user, "hello")
    await slack.event(event)
    _, offer = await slack.posts(event["channel"], 2)
    actions = offer["blocks"][1]
    yes = actions["elements"][0]

    def pressed(by: str, action_ts: str) -> dict:
        return {"type": "block_actions", "team": {"id": TEAM, "domain": "t1"}, "user": {"id": by, "team_id": TEAM},
                "api_app_id": "A1", "token": "x", "trigger_id": "1.2.3", "response_url": "https://hooks.invalid/x",
                "container": {"type": "message", "message_ts": offer["ts"], "channel_id": event["channel"]},
                "channel": {"id": event["channel"], "name": "directmessage"},
                "message": {"type": "message", "ts": offer["ts"], "text": offer["text"], "bot_id": "BBOT"},
                "actions": [{"type": "button", "action_id": yes["action_id"], "block_id": actions["block_id"],
                             "value": yes["value"], "text": yes["text"], "action_ts": action_ts}]}

    intruder = new_user()
    assert (await slack.press(pressed(intruder, "1800000002.000001"))).status_code == 200
    assert (await slack.press(pressed(user, "1800000002.000002"))).status_code == 200
    assert (await slack.press(pressed(user, "1800000002.000002"))).status_code == 401  # a replay
    answer = (await slack.posts(event["channel"], 3))[2]
    assert answer["text"] == "Great, glad that helped!"
    row = await conversation(conn, f"{TEAM}:{event['channel']}")
    assert [r["message"] for r in slack.rasa.received if r.get("sender") == str(row["id"])] == ["hello", "/affirm"]
    assert [(e["user"], e["text"]) for e in slack.fake.ephemeral if e["channel"] == event["channel"]] == [
        (intruder, NOT_YOURS)]


def press_of(offer: dict, channel: str, by: str, button: int, action_ts: str) -> dict:
    """Slack's block_actions payload for a press on the offer's ``button``."""
    actions = next(b for b in offer["blocks"] if b["type"] == "actions")
    chosen = actions["elements"][button]
    return {"type": "block_actions", "team": {"id": TEAM, "domain": "t1"}, "user": {"id": by, "team_id": TEAM},
            "api_app_id": "A1", "token": "x", "trigger_id": "1.2.3", "response_url": "https://hooks.invalid/x",
            "container": {"type": "message", "message_ts": offer["ts"], "channel_id": channel},
            "channel": {"id": channel, "name": "directmessage"},
            "message": {"type": "message", "ts": offer["ts"], "text": offer["text"], "bot_id": "BBOT"},
            "actions": [{"type": "button", "action_id": chosen["action_id"], "block_id": actions["block_id"],
                         "value": chosen["value"], "text": chosen["text"], "action_ts": action_ts}]}


async def test_the_open_a_ticket_button_opens_the_employees_ticket(slack, conn, make_actor, slack_app, monkeypatch):
    channel = slack_app[0].state.slack  # a known issue of the session's other tests could take the report (me-too)
    monkeypatch.setattr(channel, "settings", channel.settings.model_copy(update={"metoo_enabled": False}))
    employee, user = await make_actor(), new_user()
    slack.fake.add_user(user, employee.user.email)
    event = dm(user, "hello")
    await slack.event(event)
    [offer] = await slack.posts(event["channel"], 1)  # a known employee: no "anonymous" note first
    await slack.press(press_of(offer, event["channel"], user, 1, "1800000004.000001"))  # "No"
    asked = (await slack.posts(event["channel"], 2))[1]
    await slack.press(press_of(asked, event["channel"], user, 0, "1800000004.000002"))  # "Open a ticket"
    told = (await slack.posts(event["channel"], 3))[2]

    row = await conversation(conn, f"{TEAM}:{event['channel']}")
    ticket = await (await conn.execute("SELECT * FROM tickets WHERE source_reference = %s", (str(row["id"]),))
                    ).fetchone()
    assert ticket is not None and (ticket["requester_id"], ticket["source_type"]) == (employee.user.id, "SLACK")
    assert told["text"].startswith(f"I've opened ticket {ticket['number']} for you.")
    assert "deskmate:open_ticket" not in [r["message"] for r in slack.rasa.received]  # the api's, not the bot's


async def test_the_token_and_signing_secret_are_never_logged(slack, caplog):
    caplog.set_level(logging.DEBUG)
    user = new_user()
    slack.fake.add_user(user, None)
    event = dm(user, "hello")
    await slack.event(event, secret="forged")
    await slack.event(event)
    await slack.posts(event["channel"], 2)
    logged = " ".join(str(vars(r)) for r in caplog.records)
    assert "chat.postMessage" in logged  # slack_sdk's debug lines were there to look at
    assert slack.fake.token not in logged and SIGNING_SECRET not in logged
