"""notify(): ticket updates posted in the conversation's Slack thread; refusals raise so the delivery retries."""

from __future__ import annotations

import pytest
from fakes.triage import drain, worker_settings
from pydantic import SecretStr

from api.auth.models import Role
from api.channels import Channel
from api.channels.outbound import notifier
from api.chat import service as chat
from api.errors import ChannelDeliveryFailed
from api.tickets import service as tickets
from api.tickets.models import TicketCreate, Transition
from api.types import SourceType

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


async def test_a_resolved_ticket_is_told_in_the_slack_thread_it_came_from(
        conn, fake_slack, slack_settings, make_actor, principal_of):
    """Through the alert rules' ORIGIN channel: the ticket's events, the triage job, the delivery job, Slack."""
    employee, agent = await make_actor(), await make_actor(Role.admin)
    conversation = await chat.conversation_for(conn, channel=Channel.slack, key=f"T1:CORIGIN:{employee.user.id}",
                                               employee=employee.user, channel_user="UORIGIN",
                                               ref={"team": "T1", "channel": "CORIGIN", "thread_ts": "1800000009.1"})
    ticket, _ = await tickets.create(conn, principal=await principal_of(employee), data=TicketCreate(
        title="Docking station", source_type=SourceType.SLACK, source_reference=str(conversation)))
    await tickets.transition(conn, principal=await principal_of(agent), ref=ticket.number,
                             data=Transition(status="resolved", reason="Replaced the dock."))
    await drain(worker_settings(slack_settings), queues=["triage", "alerts"])

    [posted] = fake_slack.posts_to("CORIGIN")
    assert posted["thread_ts"] == "1800000009.1"
    assert posted["text"] == (f'Update on your ticket {ticket.number} "Docking station": it is now resolved '
                              "(Replaced the dock.).")
