"""notify(): ticket updates posted in the conversation's Slack thread; refusals raise so the delivery retries."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from api.channels import Channel
from api.channels.outbound import notifier
from api.errors import ChannelDeliveryFailed

TICKET = {"id": 1, "number": "INC-000001"}
THREAD = {"channel_ref": {"team": "T1", "channel": "CNOTIFY", "thread_ts": "1800000003.000001"}}


async def test_notify_posts_in_the_thread_escaped(conn, fake_slack, slack_settings):
    notify = notifier(Channel.slack)
    await notify(conn, slack_settings, ticket=TICKET, conversation=THREAD, text="INC-000001 is resolved <!channel>")
    [posted] = fake_slack.posts_to("CNOTIFY")
    assert (posted["thread_ts"], posted["text"]) == ("1800000003.000001", "INC-000001 is resolved &lt;!channel&gt;")


async def test_notify_raises_when_slack_refuses(conn, fake_slack, slack_settings):
    fake_slack.missing_channels.add("CGONE")
    gone = {"channel_ref": {"team": "T1", "channel": "CGONE", "thread_ts": None}}
    with pytest.raises(ChannelDeliveryFailed) as refused:
        await notifier(Channel.slack)(conn, slack_settings, ticket=TICKET, conversation=gone, text="update")
    assert (refused.value.code, refused.value.permanent) == ("channel_not_found", True)
    wrong_token = slack_settings.model_copy(update={"slack": slack_settings.slack.model_copy(
        update={"bot_token": SecretStr("xoxb-wrong")})})
    with pytest.raises(ChannelDeliveryFailed) as unauthorised:
        await notifier(Channel.slack)(conn, wrong_token, ticket=TICKET, conversation=THREAD, text="update")
    assert unauthorised.value.code == "invalid_auth"
    with pytest.raises(ChannelDeliveryFailed, match="no Slack channel"):
        await notifier(Channel.slack)(conn, slack_settings, ticket=TICKET, conversation=None, text="update")


async def test_a_rate_limited_post_is_retried_after_retry_after(conn, fake_slack, slack_settings):
    fake_slack.ratelimit_once()
    before = fake_slack.calls.count("chat.postMessage")
    thread = {"channel_ref": {"team": "T1", "channel": "CBUSY", "thread_ts": None}}
    await notifier(Channel.slack)(conn, slack_settings, ticket=TICKET, conversation=thread, text="busy day")
    assert fake_slack.calls.count("chat.postMessage") - before == 2  # the 429, then the post
    assert [p["text"] for p in fake_slack.posts_to("CBUSY")] == ["busy day"]
