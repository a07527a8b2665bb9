"""The chat gateway: conversations, turns through Rasa, transcripts and escalation to tickets."""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any

from psycopg.types.json import Jsonb

from api import ratelimit, sql
from api.auth import service as people
from api.auth.models import Principal
from api.chat.identity import sign_session, verify_identity
from api.chat.models import ConversationStarted, Employee, Escalation, EscalationRequest, Message, Turn
from api.chat.rasa import RasaClient
from api.db import Conn
from api.errors import Forbidden, NotFound, RasaUnavailable, ValidationFailed
from api.kb import service as kb
from api.settings import Settings
from api.tickets import service as tickets
from api.tickets.models import SourceType, TicketCreate, TicketType

log = logging.getLogger(__name__)
Q = sql.load("api.chat")
OPEN_TICKET = "deskmate:open_ticket"
KB_HELPFUL = re.compile(r"^deskmate:kb_helpful:(\d{1,18})$")
RESTARTING = ("The assistant is restarting and can't answer right now. Try again in a minute, "
              "or open a ticket and the service desk will pick it up.")
TRANSCRIPT_LIMIT = 50


async def start(conn: Conn, settings: Settings, *, identity: str | None, channel: str = "web") -> ConversationStarted:
    """Starts a conversation, anonymous or for the verified employee; returns its session token."""
    employee = None
    if identity:
        email = verify_identity(settings, identity)
        employee = await people.get_by_email(conn, email=email)
        if employee is None or not employee.active:
            raise Forbidden(f"{email} is not a known, active user.")
    row = await (await conn.execute(Q.create_conversation, {
        "id": uuid.uuid4(), "employee_id": employee.id if employee else None, "channel": channel,
        "channel_user": employee.email if employee else None})).fetchone()
    assert row is not None
    return ConversationStarted(
        conversation_id=row["id"], session_token=sign_session(settings, str(row["id"])),
        employee=Employee(email=employee.email, name=employee.name) if employee else None)


async def get_conversation(conn: Conn, *, conversation_id: str) -> dict[str, Any]:
    row = await (await conn.execute(Q.get_conversation, {"id": conversation_id})).fetchone()
    if row is None:
        raise NotFound("No such conversation.")
    return dict(row)


def to_message(row: dict[str, Any]) -> Message:
    return Message(**{k: v for k, v in row.items() if k != "payload"}, **row["payload"])


async def _store(conn: Conn, conversation_id: str, direction: str, text: str, *, payload: dict[str, Any] | None = None,
                 intent: str | None = None, confidence: float | None = None, ticket_id: int | None = None) -> Message:
    row = await (await conn.execute(Q.insert_message, {
        "conversation_id": conversation_id, "direction": direction, "text": text, "payload": Jsonb(payload or {}),
        "intent": intent, "confidence": confidence, "ticket_id": ticket_id})).fetchone()
    assert row is not None
    return to_message(dict(row))


def bot_messages(replies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rasa's REST replies as gateway messages; a ``custom`` reply adds links/citations to the message before it."""
    messages: list[dict[str, Any]] = []
    for reply in replies:
        custom: dict[str, Any] = reply["custom"] if isinstance(reply.get("custom"), dict) else {}
        if reply.get("text") or reply.get("buttons") or not messages:
            messages.append({"text": reply.get("text") or "", "payload": {
                "buttons": [{"title": str(b.get("title", "")), "payload": str(b.get("payload", ""))}
                            for b in reply.get("buttons") or []]}})
        for key in ("links", "citations"):
            if isinstance(custom.get(key), list):
                messages[-1]["payload"][key] = custom[key]
    return messages


async def _check_rate(conn: Conn, settings: Settings, conversation_id: str) -> None:
    await ratelimit.check(conn, key=f"chat.message:{conversation_id}", limit=settings.chat_rate_per_minute, message=(
        f"That's a lot of messages at once: at most {settings.chat_rate_per_minute} a minute. Please wait a moment."))


async def _answer_helped(conn: Conn, conversation: dict[str, Any], answer_id: int) -> Turn:
    """The "That solved it" button under a knowledge answer: helpful feedback on the answer and its articles."""
    conversation_id = str(conversation["id"])
    await _store(conn, conversation_id, "user", "That solved it")
    reply = "Glad that helped! Anything else I can do for you?"
    try:
        if conversation["employee_id"] is None:
            raise NotFound("anonymous conversation")
        employee = await people.principal_by_id(conn, user_id=conversation["employee_id"])
        await kb.answer_feedback(conn, principal=employee, answer_id=answer_id, helpful=True)
    except (NotFound, Forbidden):
        reply = "Glad it's sorted! (I couldn't record that answer's rating.) Anything else?"
    return Turn(messages=[await _store(conn, conversation_id, "bot", reply)], intent=None, confidence=None)


async def post_message(conn: Conn, settings: Settings, rasa: RasaClient, *, conversation_id: str, text: str) -> Turn:
    """Stores the user's text, forwards it to Rasa and stores and returns the bot's replies."""
    if len(text) > settings.chat_max_chars:
        raise ValidationFailed(f"Messages are limited to {settings.chat_max_chars} characters; this one has {len(text)}.")
    conversation = await get_conversation(conn, conversation_id=conversation_id)
    await _check_rate(conn, settings, conversation_id)
    if helped := KB_HELPFUL.match(text):
        return await _answer_helped(conn, conversation, int(helped.group(1)))
    user_message = await _store(conn, conversation_id, "user", text)
    metadata = {"conversation_id": conversation_id, "employee_email": conversation["employee_email"], "channel": "web"}
    intent = confidence = None
    try:
        replies = bot_messages(await rasa.send(sender=conversation_id, text=text, metadata=metadata))
        intent, confidence = await rasa.latest_intent(sender=conversation_id)
    except RasaUnavailable as exc:
        log.warning("assistant unavailable", extra={"error": exc.detail, "conversation_id": conversation_id})
        replies = [{"text": RESTARTING, "payload": {"buttons": [{"title": "Open a ticket", "payload": OPEN_TICKET}]}}]
    if intent:
        await conn.execute(Q.set_intent, {"id": user_message.id, "intent": intent, "confidence": confidence})
    stored = [await _store(conn, conversation_id, "bot", r["text"], payload=r["payload"]) for r in replies]
    return Turn(messages=stored, intent=intent, confidence=confidence)


async def transcript(conn: Conn, *, conversation_id: str, limit: int = 500) -> list[Message]:
    await get_conversation(conn, conversation_id=conversation_id)
    rows = await (await conn.execute(Q.list_messages, {"id": conversation_id, "limit": limit})).fetchall()
    return [to_message(dict(r)) for r in rows]


def _transcript_text(messages: list[Message]) -> str:
    who = {"user": "Employee", "bot": "Assistant"}
    return "\n".join(f"[{m.created_at:%H:%M}] {who[m.direction]}: {m.text}" for m in messages if m.text)


async def escalate(conn: Conn, *, conversation_id: str, request: EscalationRequest,
                   acting: Principal | None = None) -> Escalation:
    """Opens a CHATBOT ticket for the conversation's employee with the transcript attached."""
    conversation = await get_conversation(conn, conversation_id=conversation_id)
    if conversation["employee_id"] is None:
        raise Forbidden("Sign in to the intranet first so the service desk knows who you are.")
    if acting is not None and acting.id != conversation["employee_id"]:
        raise Forbidden("This conversation belongs to someone else.")
    employee = await people.principal_by_id(conn, user_id=conversation["employee_id"])
    history = await transcript(conn, conversation_id=conversation_id, limit=TRANSCRIPT_LIMIT)
    user_texts = [m.text for m in history if m.direction == "user" and not m.text.startswith("/")]
    last_intent = next((m for m in reversed(history) if m.intent), None)
    title = request.summary or (user_texts[-1] if user_texts else "Help requested in the chat")
    description = "\n\n".join(filter(None, [request.description, "Conversation transcript:", _transcript_text(history)]))
    data = TicketCreate(
        title=title[:200], description=description[:20_000], type=TicketType.incident, urgency=request.urgency,
        source_type=SourceType.CHATBOT, source_reference=conversation_id,
        integration_metadata={"conversation_id": conversation_id, "reason": request.reason,
                              "intent": last_intent.intent if last_intent else None,
                              "confidence": last_intent.confidence if last_intent else None})
    key = f"chat-escalation:{conversation_id}:{history[-1].id if history else 0}"
    ticket, created = await tickets.create(conn, principal=employee, data=data, idempotency_key=key)
    text = (f"I've opened ticket {ticket.number} for you. The service desk will be in touch; "
            "you can ask me for its status any time.")
    reply = await _store(conn, conversation_id, "bot", text, ticket_id=ticket.id)
    return Escalation(ticket=ticket, messages=[reply])
