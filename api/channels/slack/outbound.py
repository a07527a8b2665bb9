"""Ticket updates to a Slack requester, in the thread (or DM) their conversation lives in (api/channels/outbound.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from api.channels.slack.client import post, web_client
from api.channels.slack.render import blocks, escape, fallback
from api.chat.models import Button, Message
from api.db import Conn
from api.errors import ChannelDeliveryFailed
from api.settings import Settings


async def notify(conn: Conn, settings: Settings, *, ticket: dict[str, Any], conversation: dict[str, Any] | None,
                 text: str, buttons: Sequence[Button] = ()) -> None:
    """Posts ``text`` (and ``buttons`` as an actions block) where the conversation's replies go. Raises ChannelDeliveryFailed (permanent when Slack is
    not configured, the conversation has no place, or Slack refuses for good), so the delivery retries or stops."""
    ref = (conversation or {}).get("channel_ref") or {}
    if not settings.slack.configured:
        raise ChannelDeliveryFailed("Slack is not configured.", permanent=True)
    if not ref.get("channel"):
        raise ChannelDeliveryFailed(f"Ticket {ticket.get('number')}'s conversation has no Slack channel.",
                                    permanent=True)
    client = web_client(settings.slack)
    if not buttons:
        await post(client, channel=ref["channel"], thread_ts=ref.get("thread_ts"), text=escape(text))
        return
    assert conversation is not None  # it has a channel_ref
    message = Message(id=0, direction="bot", text=text, buttons=list(buttons), created_at=datetime.now(UTC))
    await post(client, channel=ref["channel"], thread_ts=ref.get("thread_ts"), text=fallback(message),
               blocks=blocks(message, conversation_id=conversation["id"]))
