"""A bot message in Teams' terms: plain text, or an Adaptive Card (1.5) when it has buttons, links or citations.

A button becomes an ``Action.Submit`` whose data is ``{"payload": …}``; Teams sends it back as a message activity
with that ``value``, which the adapter turns into the user's next turn (the button's payload, as in the widget).

A workflow approval (api/channels/teams/approvals.py) is a card of its own: the request, and Approve / Deny submits
whose data is ``{"deskmate_approval": <id>, "decision": "approve" | "deny"}``; such a submit is a decision, never
a turn.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from api.chat.models import Message
from api.workflows.models import ApprovalRequest

ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"
CARD_VERSION = "1.5"
APPROVAL = "deskmate_approval"
BUTTONS, DONE = {"approve": "Approve", "deny": "Deny"}, {"approve": "Approved", "deny": "Denied"}


def _link_list(message: Message) -> list[str]:
    links = [f"[{link.title}]({link.url})" for link in message.links]
    links += [f"[{c.n}] [{c.title}]({c.url})" if c.url else f"[{c.n}] {c.title}" for c in message.citations]
    return links


def _adaptive(body: list[dict[str, Any]], actions: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "AdaptiveCard", "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "version": CARD_VERSION, "body": body, **({"actions": actions} if actions else {})}


def attachment(content: dict[str, Any]) -> dict[str, Any]:
    """The activity fields that carry one Adaptive Card."""
    return {"attachments": [{"contentType": ADAPTIVE_CARD, "content": content}]}


def card(message: Message) -> dict[str, Any]:
    """The message as an Adaptive Card: its text, its links and sources, its buttons as submit actions."""
    body: list[dict[str, Any]] = [{"type": "TextBlock", "text": message.text, "wrap": True}] if message.text else []
    if links := _link_list(message):
        body.append({"type": "TextBlock", "text": "\n".join(f"- {line}" for line in links), "wrap": True,
                     "spacing": "Medium", "isSubtle": True})
    actions = [{"type": "Action.Submit", "title": b.title, "data": {"payload": b.payload}} for b in message.buttons]
    return _adaptive(body, actions)


def render(message: Message) -> dict[str, Any]:
    """The activity fields (``text`` or ``attachments``) that carry the message."""
    if message.buttons or message.links or message.citations:
        return attachment(card(message))
    return {"text": message.text}


def approval_card(request: ApprovalRequest, *, decided: str | None = None) -> dict[str, Any]:
    """The approval request with Approve and Deny submits; once ``decided`` (who decided what), without them."""
    what = request.ticket_title or request.workflow
    ticket = f" (ticket {request.ticket_number})" if request.ticket_number else ""
    body = [{"type": "TextBlock", "text": f"Approval needed: {what}{ticket}", "weight": "Bolder", "wrap": True},
            {"type": "TextBlock", "wrap": True,
             "text": f"Asked by {request.requester_name} ({request.requester_email}); "
                     f"decide by {request.expires_at:%Y-%m-%d %H:%M %Z}."}]
    if decided:
        return _adaptive([*body, {"type": "TextBlock", "text": decided, "wrap": True, "isSubtle": True}], [])
    return _adaptive(body, [{"type": "Action.Submit", "title": title, "data": {APPROVAL: request.id, "decision": d}}
                            for d, title in BUTTONS.items()])


@dataclass(frozen=True)
class ApprovalPress:
    """An Approve / Deny submit from an approval card."""

    approval_id: int
    decision: str


def approval_press(value: object) -> ApprovalPress | None:
    """The approval decision a submit's ``value`` carries; None when it carries none (or a malformed one)."""
    if not isinstance(value, dict):
        return None
    approval_id, decision = value.get(APPROVAL), value.get("decision")
    if isinstance(approval_id, bool) or not isinstance(approval_id, int) or decision not in DONE:
        return None
    return ApprovalPress(approval_id, str(decision))
