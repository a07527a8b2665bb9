"""Workflow approvals in Slack: the approver gets the request in a DM from the bot, with Approve and Deny
buttons; a press decides it as that approver (``decided_via`` "slack").

The message goes to the Slack account with the approver's e-mail address (users.lookupByEmail). A press counts
for the deskmate user with the presser's Slack e-mail address, and api.workflows.approval_service decides
whether they may: the named approver (or a member of the role or team asked, or an admin), never the requester,
once, before the request expires. Anyone else is told so, privately, and nothing changes.
"""

from __future__ import annotations

import re
from typing import Any

from slack_sdk.errors import SlackApiError

from api.channels.slack.client import post, web_client
from api.channels.slack.render import escape
from api.db import Conn
from api.errors import ChannelDeliveryFailed
from api.settings import Settings
from api.workflows import approval_service
from api.workflows.models import ApprovalRequest

ACTION = re.compile(r"^deskmate_approval_(approve|deny)$")
BLOCK_PREFIX = "deskmate-approval:"
DONE = {"approve": "Approved", "deny": "Denied"}


def _summary(request: ApprovalRequest) -> str:
    what = escape(request.ticket_title or request.workflow)
    ticket = f" (ticket {escape(request.ticket_number)})" if request.ticket_number else ""
    return (f"*Approval needed:* {what}{ticket}\nAsked by {escape(request.requester_name)} "
            f"({escape(request.requester_email)}); decide by {request.expires_at:%Y-%m-%d %H:%M %Z}.")


def blocks(request: ApprovalRequest) -> list[dict[str, Any]]:
    return [{"type": "section", "text": {"type": "mrkdwn", "text": _summary(request)}},
            {"type": "actions", "block_id": f"{BLOCK_PREFIX}{request.id}", "elements": [
                {"type": "button", "action_id": "deskmate_approval_approve", "style": "primary",
                 "value": str(request.id), "text": {"type": "plain_text", "text": "Approve"}},
                {"type": "button", "action_id": "deskmate_approval_deny", "style": "danger",
                 "value": str(request.id), "text": {"type": "plain_text", "text": "Deny"}}]}]


def decided_blocks(request: ApprovalRequest, decision: str, by: str) -> list[dict[str, Any]]:
    """The message after the press: the request, and who decided what (no buttons left)."""
    return [{"type": "section", "text": {"type": "mrkdwn", "text": _summary(request)}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"{DONE[decision]} by {escape(by)}."}]}]


async def send(conn: Conn, settings: Settings, *, approval_id: int, to: str) -> str:
    """The job: DMs the approver with the e-mail address ``to`` the request, when Slack knows them."""
    request = await approval_service.get(conn, approval_id=approval_id)
    if request.status != "pending":
        return "decided: not sent"
    if not settings.slack.configured:
        return "not sent: Slack is not configured"
    client = web_client(settings.slack)
    try:
        user = (await client.users_lookupByEmail(email=to))["user"]["id"]
    except SlackApiError as exc:
        if exc.response.get("error") == "users_not_found":
            return "not sent: no Slack account with that address"
        raise ChannelDeliveryFailed(f"Slack's users.lookupByEmail failed: {exc.response.get('error')}.") from exc
    await post(client, channel=user, thread_ts=None, text=f"Approval needed: {request.ticket_title or request.workflow}",
               blocks=blocks(request))
    return "sent"
