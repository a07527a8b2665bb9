"""Ticket updates for a widget conversation: a bot message in it, shown when the widget (or the portal) loads the
transcript; the in-app notification is the alert rules' IN_APP channel."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from api.chat import service as chat
from api.chat.models import Button
from api.db import Conn
from api.settings import Settings


async def notify(conn: Conn, settings: Settings, *, ticket: dict[str, Any], conversation: dict[str, Any] | None,
                 text: str, buttons: Sequence[Button] = ()) -> None:
    assert conversation is not None, "a web origin is always a conversation"
    payload = {"buttons": [b.model_dump() for b in buttons]} if buttons else None
    await chat.store(conn, str(conversation["id"]), "bot", text, payload=payload, ticket_id=ticket["id"])
