"""A stored bot message as Slack Block Kit: its text as mrkdwn, its buttons as an actions block (each button's
value is the payload the press sends back), its citations and links as a context block of ``<url|title>``."""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID

from api.chat.models import Message

BLOCK_PREFIX = "deskmate:"  # an actions block's id: deskmate:<conversation id>
BUTTON_ACTION = re.compile(r"^deskmate_button_\d+$")
SECTION_MAX = 3000  # Slack's limit for a section's text
MARKDOWN_LINK = re.compile(r"\[([^\]\n]+)\]\((https?://[^)\s]+)\)")
MARKDOWN_BOLD = re.compile(r"\*\*([^*\n]+)\*\*")


def escape(text: str) -> str:
    """Slack's three control characters, escaped (https://api.slack.com/reference/surfaces/formatting)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def mrkdwn(text: str) -> str:
    """The bot's Markdown as Slack mrkdwn: escaped, [title](url) as <url|title>, **bold** as *bold*."""
    text = MARKDOWN_LINK.sub(lambda m: f"<{m.group(2)}|{m.group(1).replace('|', '/')}>", escape(text))
    return MARKDOWN_BOLD.sub(r"*\1*", text)


def _link(title: str, url: str | None) -> str:
    title = escape(title).replace("|", "/")
    safe = url and url.startswith(("https://", "http://")) and not any(c in url for c in "<>| ")
    return f"<{url}|{title}>" if safe else title


def blocks(message: Message, *, conversation_id: UUID | str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if message.text:
        out.append({"type": "section", "text": {"type": "mrkdwn", "text": mrkdwn(message.text)[:SECTION_MAX]}})
    if message.buttons:
        out.append({"type": "actions", "block_id": f"{BLOCK_PREFIX}{conversation_id}", "elements": [
            {"type": "button", "action_id": f"deskmate_button_{i}", "value": b.payload[:2000],
             "text": {"type": "plain_text", "text": b.title[:75] or b.payload[:75], "emoji": True}}
            for i, b in enumerate(message.buttons[:25])]})
    sources = [f"[{c.n}] {_link(c.title, c.url)}" for c in message.citations]
    sources += [_link(link.title, link.url) for link in message.links]
    if sources:
        out.append({"type": "context", "elements": [{"type": "mrkdwn", "text": "  ".join(sources)[:SECTION_MAX]}]})
    return out


def fallback(message: Message) -> str:
    """The plain text Slack shows in notifications and where blocks cannot be shown."""
    return escape(message.text or ", ".join(b.title for b in message.buttons) or "(no text)")
