"""One turn from a channel whose buttons come back as the next message (Slack, Teams).

Most button payloads are text for the bot (``/affirm``) or for the core (``deskmate:kb_helpful:…``), so they go to
``api.chat.service.post_message`` like typed text. The one the widget sends to a gateway endpoint of its own,
"Open a ticket" (``deskmate:open_ticket``, ``POST …/tickets``), is opened here the same way.
"""

from __future__ import annotations

from api.chat import service as chat
from api.chat import tickets
from api.chat.models import Turn
from api.chat.rasa import RasaClient
from api.db import Pool
from api.kb.embedding import Embedder
from api.settings import Settings


async def take_turn(pool: Pool, settings: Settings, rasa: RasaClient, *, conversation_id: str, text: str,
                    embedder: Embedder | None) -> Turn:
    """One turn; the caller holds no connection (Rasa's actions call back into the api while it answers)."""
    if text.strip() == chat.OPEN_TICKET:
        async with pool.connection() as conn:
            return await tickets.button_turn(conn, settings, conversation_id=conversation_id, embedder=embedder)
    return await chat.post_message(pool, settings, rasa, conversation_id=conversation_id, text=text)
