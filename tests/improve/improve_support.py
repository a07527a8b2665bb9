"""Helpers of the closed-loop tests: conversations with failed turns, unhelpful answers, proposals."""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np
from psycopg.types.json import Jsonb

import kb_index
from api import sql
from api.auth.models import User
from api.channels import Channel
from api.chat import service as chat
from api.chat import tickets as chat_tickets
from api.chat.models import TicketRequest

CHAT = sql.load("api.chat")
IMPROVE = sql.load("api.improve")


async def conversation(conn: Any, employee: User | None = None) -> str:
    return str(await chat.start(conn, channel=Channel.web, employee=employee, channel_user=None))


async def say(conn: Any, conversation_id: str, text: str, intent: str, confidence: float) -> int:
    """A user turn as the gateway stores it: the text, then the intent Rasa detected."""
    message = await chat.store(conn, conversation_id, "user", text)
    await conn.execute(CHAT.set_intent, {"id": message.id, "intent": intent, "confidence": confidence})
    await chat.store(conn, conversation_id, "bot", "I'm not sure I understood.")
    return message.id


async def escalate(conn: Any, conversation_id: str, *, category: str | None = None) -> int:
    """Opens the conversation's ticket (as the widget's button does); triage's category set as given."""
    opened = await chat_tickets.open_ticket(conn, conversation_id=conversation_id,
                                            request=TicketRequest(reason="fallback"), acting=None)
    if category:
        await conn.execute("UPDATE tickets SET category_id = (SELECT id FROM categories WHERE slug = %s) "
                           "WHERE id = %s", (category, opened.ticket.id))
    return opened.ticket.id


async def unhelpful_answer(conn: Any, embedder: kb_index.Embedder, user_id: int, question: str) -> int:
    """A knowledge answer its asker rated "didn't help"."""
    row = await (await conn.execute(
        "INSERT INTO kb_answers (user_id, question, question_embedding, mode, confident, answer, helpful, feedback_at)"
        " VALUES (%s, %s, %s, 'extractive', false, 'Maybe this helps.', false, now()) RETURNING id",
        (user_id, question, embedder.embed_query(question)))).fetchone()
    return int(row["id"])


async def proposal(conn: Any, *, kind: str = "examples", intent: str | None = "printer_problem",
                   examples: list[str] | None = None, texts: list[str] | None = None) -> int:
    """A proposal as a clustering pass stores it (for tests of the decisions, without clustering)."""
    centroid = np.zeros(kb_index.DIMENSIONS, dtype=np.float32)
    centroid[uuid.uuid4().int % kb_index.DIMENSIONS] = 1.0
    texts = texts or examples or ["a failed turn"]
    row = await (await conn.execute(IMPROVE.insert_proposal, {
        "run_id": None, "kind": kind, "intent": intent, "title": texts[0][:80], "keywords": [],
        "examples": examples or [], "texts": texts, "reasons": Jsonb({"fallback": len(texts)}),
        "basis": Jsonb({"rule": "test"}), "message_ids": [], "answer_ids": [], "ticket_ids": [],
        "size": len(texts), "centroid": centroid})).fetchone()
    return int(row["id"])
