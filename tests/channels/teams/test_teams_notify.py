"""Proactive ticket notifications to a stored Teams conversation reference (api/channels/teams/outbound.py)."""

from __future__ import annotations

from typing import Any

import pytest
from fakes.bot_framework import activity

from api.channels import Channel
from api.channels.outbound import notifier
from api.channels.teams.connector import host_allowed
from api.channels.teams.settings import TeamsSettings
from api.errors import ChannelDeliveryFailed

TICKET = {"id": 42, "number": "INC-42"}


async def stored_conversation(client, teams, conn) -> dict[str, Any]:
    """A conversation as a verified activity leaves it (with its channel_ref)."""
    body = activity(teams.framework, text="hello")
    r = await client.post("/teams/messages", json=body, headers={"Authorization": f"Bearer {teams.framework.token()}"})
    assert r.status_code == 202
    await teams.channel.idle()
    cur = await conn.execute("SELECT * FROM chat_conversations WHERE channel = 'teams' AND channel_key = %s",
                             (f"{body['conversation']['id']}|{body['from']['aadObjectId']}",))
    return dict(await cur.fetchone())


async def test_notify_posts_a_proactive_message(client, teams, conn):
    conversation = await stored_conversation(client, teams, conn)
    before = len(teams.framework.activities)
    await notifier(Channel.teams)(conn, teams.settings, ticket=TICKET, conversation=conversation,
                                  text="INC-42 is resolved.")
    [sent] = teams.framework.activities[before:]
    assert (sent.conversation_id, sent.reply_to) == (conversation["channel_ref"]["conversation"]["id"], None)
    assert sent.body["text"] == "INC-42 is resolved." and sent.body["from"]["id"].startswith("28:")
    assert sent.authorization.removeprefix("Bearer ") in teams.framework.issued


async def test_proactive_messages_share_one_bot_token_and_get_a_new_one_when_it_is_revoked(client, teams, conn):
    conversation = await stored_conversation(client, teams, conn)
    send = notifier(Channel.teams)
    await send(conn, teams.settings, ticket=TICKET, conversation=conversation, text="one")
    issued = len(teams.framework.issued)
    await send(conn, teams.settings, ticket=TICKET, conversation=conversation, text="two")
    assert len(teams.framework.issued) == issued  # the second message reused the token
    teams.framework.issued.clear()  # revoked: the connector answers 401 to it
    await send(conn, teams.settings, ticket=TICKET, conversation=conversation, text="three")
    assert [a.body["text"] for a in teams.framework.activities[-3:]] == ["one", "two", "three"]
    assert len(teams.framework.issued) == 1


@pytest.mark.parametrize("status", [502, 403])
async def test_a_refusing_connector_raises(client, teams, conn, status):
    conversation = await stored_conversation(client, teams, conn)
    teams.framework.fail_next(status)
    with pytest.raises(ChannelDeliveryFailed) as raised:
        await notifier(Channel.teams)(conn, teams.settings, ticket=TICKET, conversation=conversation, text="x")
    assert raised.value.status == 502 and raised.value.permanent is (status == 403)


async def test_throttling_is_waited_out(client, teams, conn):
    conversation = await stored_conversation(client, teams, conn)
    before = len(teams.framework.activities)
    teams.framework.fail_next(429, times=2, retry_after="0")
    await notifier(Channel.teams)(conn, teams.settings, ticket=TICKET, conversation=conversation, text="update")
    assert [a.body["text"] for a in teams.framework.activities[before:]] == ["update"]


async def test_without_a_reference_or_configuration_nothing_is_sent(teams, conn, settings):
    for config, conversation in ((teams.settings, None), (teams.settings, {"channel_ref": {}}),
                                 (settings, {"channel_ref": {"serviceUrl": teams.framework.url + "/",
                                                             "conversation": {"id": "a:1"}}})):
        with pytest.raises(ChannelDeliveryFailed):
            await notifier(Channel.teams)(conn, config, ticket=TICKET, conversation=conversation, text="x")
    assert teams.framework.activities == []


def test_only_connector_hosts_are_called():
    production = TeamsSettings(_env_file=None)  # type: ignore[call-arg]
    assert host_allowed(production, "https://smba.trafficmanager.net/emea/")
    assert host_allowed(production, "https://europe.botframework.com/")
    assert not host_allowed(production, "http://smba.trafficmanager.net/emea/")  # https only
    assert not host_allowed(production, "https://evilbotframework.com/")
    assert not host_allowed(production, "http://127.0.0.1:9/")  # loopback only when a test allows it
    assert host_allowed(production.model_copy(update={"allow_loopback": True}), "http://127.0.0.1:9/")
