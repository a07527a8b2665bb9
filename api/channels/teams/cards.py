"""A bot message in Teams' terms: plain text, or an Adaptive Card (1.5) when it has buttons, links or citations.

A button becomes an ``Action.Submit`` whose data is ``{"payload": …}``; Teams sends it back as a message activity
with that ``value``, which the adapter turns into the user's next turn (the button's payload, as in the widget).
"""

from __future__ import annotations

from typing import Any

from api.chat.models import Message

ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"
CARD_VERSION = "1.5"


def _link_list(message: Message) -> list[str]:
    links = [f"[{link.title}]({link.url})" for link in message.links]
    links += [f"[{c.n}] [{c.title}]({c.url})" if c.url else f"[{c.n}] {c.title}" for c in message.citations]
    return links


def card(message: Message) -> dict[str, Any]:
    """The message as an Adaptive Card: its text, its links and sources, its buttons as submit actions."""
    body: list[dict[str, Any]] = [{"type": "TextBlock", "text": message.text, "wrap": True}] if message.text else []
    if links := _link_list(message):
        body.append({"type": "TextBlock", "text": "\n".join(f"- {line}" for line in links), "wrap": True,
                     "spacing": "Medium", "isSubtle": True})
    actions = [{"type": "Action.Submit", "title": b.title, "data": {"payload": b.payload}} for b in message.buttons]
    return {"type": "AdaptiveCard", "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "version": CARD_VERSION, "body": body, **({"actions": actions} if actions else {})}


def render(message: Message) -> dict[str, Any]:
    """The activity fields (``text`` or ``attachments``) that carry the message."""
    if message.buttons or message.links or message.citations:
        return {"attachments": [{"contentType": ADAPTIVE_CARD, "content": card(message)}]}
    return {"text": message.text}
