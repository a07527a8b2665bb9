"""Ticket updates for a widget conversation: a bot message in it, shown when the widget (or the portal) loads the
transcript; the in-app notification is the alert rules' IN_APP channel."""

from __future__ import annotations

from typing import Any

from api.chat import service as chat
from api.db import Conn
from api.settings import Settings


async def notify(conn: Conn, settings: Settings, *, ticket: dict[str, Any], conversation: dict[str, Any] | None,
                 text: str) -> None:
    assert conversation is not None, "a web origin is always a conversation"
    await chat.store(conn, str(conversation["id"]), "bot", text, ticket_id=ticket["id"])
