"""Telling a requester about their ticket in the Teams conversation it came from (api/channels/outbound.py)."""

from __future__ import annotations

from typing import Any

from api.channels.teams.connector import BotConnector
from api.db import Conn
from api.errors import ChannelDeliveryFailed
from api.settings import Settings


async def notify(conn: Conn, settings: Settings, *, ticket: dict[str, Any], conversation: dict[str, Any] | None,
                 text: str) -> None:
    """Posts ``text`` as a new message to the conversation's stored reference (a proactive message).

    The serviceUrl is the one the conversation's last verified activity came from; ChannelDeliveryFailed when
    Teams is not configured, the conversation has no reference, or the Bot Connector refuses.
    """
    if not settings.teams.configured:
        raise ChannelDeliveryFailed("Microsoft Teams is not configured.", permanent=True)
    ref = (conversation or {}).get("channel_ref") or {}
    service_url, target = ref.get("serviceUrl"), (ref.get("conversation") or {}).get("id")
    if not service_url or not target:
        raise ChannelDeliveryFailed(f"Ticket {ticket.get('id')} has no Teams conversation to write to.", permanent=True)
    activity = {"type": "message", "text": text, "from": ref.get("bot"), "conversation": {"id": target},
                "channelId": ref.get("channelId", "msteams"), "serviceUrl": service_url}
    connector = BotConnector(settings.teams)
    try:
        await connector.send(service_url, target, activity)
    finally:
        await connector.aclose()
