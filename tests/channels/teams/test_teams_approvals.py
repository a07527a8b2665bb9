"""Workflow approvals in Teams: an Adaptive Card in the approver's personal chat with the bot, decided only by the
approver (api/channels/teams/approvals.py), against the fake Bot Framework over real HTTP."""

from __future__ import annotations

from typing import Any

from fakes.bot_framework import activity

from api.auth.models import Role
from api.channels.teams import approvals as teams_approvals
from api.channels.teams.approvals import NO_CHAT, NOT_YOUR_APPROVAL
from api.workflows import approvals


async def deliver(client, teams, body: dict[str, Any]) -> int:
    """Posts a verified activity and waits for its background work; the status code."""
    response = await client.post("/teams/messages", json=body,
                                 headers={"Authorization": f"Bearer {teams.framework.token()}"})
    await teams.channel.idle()
    return response.status_code


def from_person(teams, email: str, *, aad: str, text: str | None = "hi", conversation: str | None = None,
                conversation_type: str = "personal", **extra: Any) -> dict[str, Any]:
    """An activity from the Teams user with the UPN ``email``."""
    body = activity(teams.framework, text=text, conversation=conversation, user=f"29:{aad}", aad=aad, **extra)
    body["from"]["userPrincipalName"] = email
    body["conversation"]["conversationType"] = conversation_type
    return body


async def queued_to(conn, approval_id: int) -> list[str]:
    rows = await (await conn.execute(
        "SELECT args FROM procrastinate_jobs WHERE task_name = %s AND (args->>'approval_id')::bigint = %s",
        (approvals.TEAMS_TASK, approval_id))).fetchall()
    return [r["args"]["to"] for r in rows]


async def test_the_card_reaches_the_approvers_personal_chat_and_only_the_approver_decides(
        client, teams, conn, make_actor, make_team, team_approval):
    team = await make_team()
    requester, approver = await make_actor(Role.employee), await make_actor(Role.agent, teams=(team,))
    outsider = await make_actor(Role.agent)
    personal = from_person(teams, approver.user.email, aad="aad-approver")
    assert await deliver(client, teams, personal) == 202
    # written later, but in a channel: a proactive card goes to the personal chat only
    assert await deliver(client, teams, from_person(teams, approver.user.email, aad="aad-approver",
                                                    conversation_type="channel")) == 202
    approval_id = await team_approval(teams.settings, team, requester.user.id)
    assert await queued_to(conn, approval_id) == [approver.user.email]

    before = len(teams.framework.activities)
    assert await teams_approvals.send(conn, teams.settings, approval_id=approval_id, to=approver.user.email) == "sent"
    [sent] = teams.framework.activities[before:]
    assert (sent.conversation_id, sent.reply_to) == (personal["conversation"]["id"], None)
    card = sent.body["attachments"][0]["content"]
    assert [(a["title"], a["data"]) for a in card["actions"]] == [
        ("Approve", {"deskmate_approval": approval_id, "decision": "approve"}),
        ("Deny", {"deskmate_approval": approval_id, "decision": "deny"})]
    assert "Needs an OK" in card["body"][0]["text"]
    card_id = f"reply-{before + 1}"

    def press(email: str, aad: str, decision: str, activity_id: str | None = None) -> dict[str, Any]:
        return from_person(teams, email, aad=aad, text=None, conversation=personal["conversation"]["id"],
                           activity_id=activity_id, replyToId=card_id,
                           value={"deskmate_approval": approval_id, "decision": decision})

    for someone_else in (press(outsider.user.email, "aad-outsider", "approve"),
                         press(requester.user.email, "aad-requester", "approve")):
        assert await deliver(client, teams, someone_else) == 202
    row = await (await conn.execute("SELECT * FROM workflow_approvals WHERE id = %s", (approval_id,))).fetchone()
    assert row["status"] == "pending" and teams.framework.updated == []
    told = [a.body["text"] for a in teams.framework.activities[before + 1:]]
    assert told == [NOT_YOUR_APPROVAL, NOT_YOUR_APPROVAL]  # the requester is no approver of a team approval either

    yes = press(approver.user.email, "aad-approver", "approve")
    assert await deliver(client, teams, yes) == 202
    row = await (await conn.execute("SELECT * FROM workflow_approvals WHERE id = %s", (approval_id,))).fetchone()
    assert (row["status"], row["decided_via"], row["decided_by"], row["decided_by_id"]) == (
        "approved", "teams", approver.user.email, approver.user.id)
    [replaced] = teams.framework.updated
    assert (replaced.conversation_id, replaced.reply_to) == (personal["conversation"]["id"], card_id)
    done = replaced.body["attachments"][0]["content"]
    assert "actions" not in done and done["body"][-1]["text"] == f"Approved by {approver.user.email}."

    posted = len(teams.framework.activities)
    assert await deliver(client, teams, yes) == 200  # the same activity again: dropped
    assert await deliver(client, teams, press(approver.user.email, "aad-approver", "deny")) == 202
    [again] = [a.body["text"] for a in teams.framework.activities[posted:]]
    assert "already decided: approved" in again
    row = await (await conn.execute("SELECT * FROM workflow_approvals WHERE id = %s", (approval_id,))).fetchone()
    assert (row["status"], len(teams.framework.updated)) == ("approved", 1)


async def test_an_approver_without_a_personal_chat_with_the_bot_is_skipped(
        client, teams, conn, settings, make_actor, make_team, team_approval):
    team = await make_team()
    requester, approver = await make_actor(Role.employee), await make_actor(Role.agent, teams=(team,))
    assert await deliver(client, teams, from_person(teams, approver.user.email, aad="aad-approver",
                                                    conversation_type="groupChat")) == 202
    approval_id = await team_approval(teams.settings, team, requester.user.id)
    before = len(teams.framework.activities)
    assert await teams_approvals.send(conn, teams.settings, approval_id=approval_id, to=approver.user.email) == NO_CHAT
    assert teams.framework.activities[before:] == []

    unconfigured = await team_approval(settings, team, requester.user.id)  # Teams off: no job at all
    assert await queued_to(conn, unconfigured) == []
    assert await queued_to(conn, approval_id) == [approver.user.email]
