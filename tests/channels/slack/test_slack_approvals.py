"""Workflow approvals in Slack: the approver's DM with Approve and Deny, decided only by who may decide."""

from __future__ import annotations

import asyncio
import uuid

from fakes.slack_server import TEAM
from fakes.waiting import wait_until

from api.auth.models import Role
from api.channels.slack import approvals as slack_approvals
from api.channels.slack.inbound import NOT_YOUR_APPROVAL
from api.workflows import approvals


def _press(user: str, channel: str, offer: dict, *, deny: bool = False) -> dict:
    button = offer["blocks"][1]["elements"][1 if deny else 0]
    return {"type": "block_actions", "team": {"id": TEAM}, "user": {"id": user, "team_id": TEAM}, "api_app_id": "A1",
            "token": "x", "trigger_id": "1.2.3", "channel": {"id": channel},
            "container": {"type": "message", "message_ts": offer["ts"], "channel_id": channel},
            "message": {"type": "message", "ts": offer["ts"], "text": offer["text"], "bot_id": "BBOT"},
            "actions": [{"type": "button", "action_id": button["action_id"], "block_id": offer["blocks"][1]["block_id"],
                         "value": button["value"], "action_ts": f"{uuid.uuid4().int % 10**9}.000001"}]}


async def test_the_approver_decides_in_slack_and_nobody_else_can(slack, conn, slack_settings, make_actor, make_team,
                                                                   team_approval):
    team = await make_team()
    requester, approver = await make_actor(Role.employee), await make_actor(Role.agent, teams=(team,))
    approver_slack, requester_slack = f"U{uuid.uuid4().hex[:10].upper()}", f"U{uuid.uuid4().hex[:10].upper()}"
    slack.fake.add_user(approver_slack, approver.user.email)
    slack.fake.add_user(requester_slack, requester.user.email)
    approval_id = await team_approval(slack_settings, team, requester.user.id)
    queued = await (await conn.execute(
        "SELECT args FROM procrastinate_jobs WHERE task_name = %s AND (args->>'approval_id')::bigint = %s",
        (approvals.SLACK_TASK, approval_id))).fetchall()
    assert [j["args"]["to"] for j in queued] == [approver.user.email]

    assert await slack_approvals.send(conn, slack_settings, approval_id=approval_id, to=approver.user.email) == "sent"
    assert await slack_approvals.send(conn, slack_settings, approval_id=approval_id,
                                      to="nobody@example.invalid") == "not sent: no Slack account with that address"
    [offer] = slack.fake.posts_to(approver_slack)  # the DM with the bot: the channel is the user's id
    assert [(b["text"]["text"], b["value"]) for b in offer["blocks"][1]["elements"]] == [
        ("Approve", str(approval_id)), ("Deny", str(approval_id))]

    for presser in (requester_slack, f"U{uuid.uuid4().hex[:10].upper()}"):  # the requester; someone unknown
        assert (await slack.press(_press(presser, approver_slack, offer))).status_code == 200
    assert (await slack.press(_press(approver_slack, approver_slack, offer))).status_code == 200
    assert (await slack.press(_press(approver_slack, approver_slack, offer, deny=True))).status_code == 200
    await asyncio.to_thread(wait_until, lambda: len([e for e in slack.fake.ephemeral if e["channel"] == approver_slack])
                            >= 3, 20, "three refusals")

    row = await (await conn.execute("SELECT * FROM workflow_approvals WHERE id = %s", (approval_id,))).fetchone()
    assert (row["status"], row["decided_via"], row["decided_by"]) == ("approved", "slack", approver.user.email)
    refusals = [(e["user"], e["text"]) for e in slack.fake.ephemeral if e["channel"] == approver_slack]
    assert refusals[:2] == [(requester_slack, NOT_YOUR_APPROVAL), (refusals[1][0], NOT_YOUR_APPROVAL)]
    assert refusals[2][0] == approver_slack and "already decided: approved" in refusals[2][1]
    [done] = [u for u in slack.fake.updated if u["channel"] == approver_slack]
    assert done["ts"] == offer["ts"] and f"Approved by {approver.user.email}." in str(done["blocks"])
    assert "actions" not in [b["type"] for b in done["blocks"]]
