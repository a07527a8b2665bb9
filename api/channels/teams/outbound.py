"""Proactive messages to a stored Teams conversation reference: ticket updates for the requester
(api/channels/outbound.py) and approval cards for an approver (approvals.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from api.channels.teams.cards import render
from api.channels.teams.connector import BotConnector
from api.chat.models import Button, Message
from api.db import Conn
from api.errors import ChannelDeliveryFailed
from api.settings import Settings


async def post(settings: Settings, ref: dict[str, Any], fields: dict[str, Any]) -> str | None:
    """Posts a new message (``fields``: ``{"text": …}`` or ``{"attachments": […]}``) to the conversation
    reference ``ref``; the new activity's id. ChannelDeliveryFailed when the reference names no conversation or
    the Bot Connector refuses."""
    service_url, target = ref.get("serviceUrl"), (ref.get("conversation") or {}).get("id")
    if not service_url or not target:
        raise ChannelDeliveryFailed("No Teams conversation to write to.", permanent=True)
    activity = {"type": "message", "from": ref.get("bot"), "conversation": {"id": target},
                "channelId": ref.get("channelId", "msteams"), "serviceUrl": service_url, **fields}
    connector = BotConnector(settings.teams)
    try:
        return await connector.send(service_url, target, activity)
    finally:
        await connector.aclose()


async def notify(conn: Conn, settings: Settings, *, ticket: dict[str, Any], conversation: dict[str, Any] | None,
                 text: str, buttons: Sequence[Button] = ()) -> None:
    """Posts ``text`` as a new message to the conversation's stored reference (a proactive message); with
    ``buttons``, as an Adaptive Card whose submits send their payloads back.

    The serviceUrl is the one the conversation's last verified activity came from; ChannelDeliveryFailed when
    Teams is not configured, the conversation has no reference, or the Bot Connector refuses.
    """
    if not settings.teams.configured:
        raise ChannelDeliveryFailed("Microsoft Teams is not configured.", permanent=True)
    ref = (conversation or {}).get("channel_ref") or {}
    if not ref.get("serviceUrl") or not (ref.get("conversation") or {}).get("id"):
        raise ChannelDeliveryFailed(f"Ticket {ticket.get('id')} has no Teams conversation to write to.", permanent=True)
    message = Message(id=0, direction="bot", text=text, buttons=list(buttons), created_at=datetime.now(UTC))
    await post(settings, ref, render(message))
