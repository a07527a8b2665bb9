"""CSAT in Slack and Teams: the survey reaches the conversation with the 1–5 buttons their adapters render (an
actions block, an Adaptive Card's submits), a press comes back through the chat core, and a send the channel
refuses for a while is retried without asking twice."""

from __future__ import annotations

import pytest
from csat_support import conversation, resolve, send_now, survey_of, ticket_from

from api.auth.models import Role
from api.channels import Channel, turns
from api.errors import ChannelDeliveryFailed


async def _resolved(conn, make_actor, principal_of, channel: Channel, ref: dict) -> tuple[dict, str, object]:
    employee, agent = await make_actor(), await make_actor(Role.admin)
    conversation_id = await conversation(conn, employee, channel, ref)
    ticket = await ticket_from(conn, await principal_of(employee), conversation_id=conversation_id)
    await resolve(conn, await principal_of(agent), ticket["id"])
    return ticket, conversation_id, employee


async def test_slack_gets_the_buttons_in_the_thread_and_a_press_rates(
        app, conn, make_actor, principal_of, csat_slack, csat_slack_settings):
    ref = {"team": "T1", "channel": "DCSAT", "thread_ts": "1800000009.000001"}
    ticket, conversation_id, _ = await _resolved(conn, make_actor, principal_of, Channel.slack, ref)

    assert await send_now(conn, csat_slack_settings, ticket["id"]) == "sent"
    [posted] = csat_slack.posts_to("DCSAT")
    survey = await survey_of(conn, ticket["id"])
    actions = next(b for b in posted["blocks"] if b["type"] == "actions")
    assert posted["thread_ts"] == "1800000009.000001" and ticket["number"] in posted["blocks"][0]["text"]["text"]
    assert [e["value"] for e in actions["elements"]] == [f"deskmate:csat:{survey['id']}:{n}" for n in range(1, 6)]
    assert actions["block_id"] == f"deskmate:{conversation_id}"

    turn = await turns.take_turn(app.state.pool, csat_slack_settings, app.state.rasa, conversation_id=conversation_id,
                                 text=actions["elements"][2]["value"], embedder=None)  # the press, as Slack's adapter
    assert turn.messages[-1].text == f"Thank you for rating {ticket['number']}: 3 out of 5."
    assert (await survey_of(conn, ticket["id"]))["score"] == 3


async def test_teams_gets_an_adaptive_card_with_the_buttons(conn, make_actor, principal_of, csat_framework,
                                                            csat_teams_settings):
    ref = {"serviceUrl": csat_framework.url + "/", "conversation": {"id": "a:csat-chat"}, "channelId": "msteams",
           "bot": {"id": f"28:{csat_framework.app_id}", "name": "deskmate"}}
    ticket, _, _ = await _resolved(conn, make_actor, principal_of, Channel.teams, ref)

    assert await send_now(conn, csat_teams_settings, ticket["id"]) == "sent"
    [sent] = csat_framework.activities
    card = sent.body["attachments"][0]["content"]
    survey = await survey_of(conn, ticket["id"])
    assert sent.conversation_id == "a:csat-chat" and ticket["number"] in card["body"][0]["text"]
    assert [(a["type"], a["title"], a["data"]) for a in card["actions"]] == [
        ("Action.Submit", str(n), {"payload": f"deskmate:csat:{survey['id']}:{n}"}) for n in range(1, 6)]
    assert (await survey_of(conn, ticket["id"]))["channel"] == "teams"


async def test_a_refused_send_is_retried_and_asks_once(conn, make_actor, principal_of, csat_framework,
                                                       csat_teams_settings):
    ref = {"serviceUrl": csat_framework.url + "/", "conversation": {"id": "a:csat-retry"}, "channelId": "msteams",
           "bot": {"id": f"28:{csat_framework.app_id}", "name": "deskmate"}}
    ticket, _, _ = await _resolved(conn, make_actor, principal_of, Channel.teams, ref)
    csat_framework.fail_next(503)

    with pytest.raises(ChannelDeliveryFailed):  # the job fails; procrastinate retries it with backoff
        await send_now(conn, csat_teams_settings, ticket["id"])
    assert (await survey_of(conn, ticket["id"]))["status"] == "queued"
    assert await send_now(conn, csat_teams_settings, ticket["id"]) == "sent"
    assert await send_now(conn, csat_teams_settings, ticket["id"]) == "sent"

    assert [a.conversation_id for a in csat_framework.activities] == ["a:csat-retry"]


async def test_a_channel_that_refuses_for_good_marks_the_survey_failed(conn, make_actor, principal_of, settings):
    ticket, _, _ = await _resolved(conn, make_actor, principal_of, Channel.slack, {"channel": "DX"})

    assert await send_now(conn, settings, ticket["id"]) == "failed"  # Slack is not configured
    survey = await survey_of(conn, ticket["id"])
    assert (survey["channel"], survey["error"]) == ("slack", "Slack is not configured.")
