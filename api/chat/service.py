"""The conversation core, channel-neutral: conversations, messages and one turn through Rasa.

Channel adapters (api/channels/*) verify their callers and map them to an employee; everything after that
happens here. Each turn Rasa gets a fresh per-turn assertion for a signed-in employee (api/auth/assertions.py),
never the employee's address.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from typing import Any

from psycopg.types.json import Jsonb

from api import ratelimit, sql
from api.auth import assertions
from api.auth import service as people
from api.auth.models import User
from api.channels import Channel
from api.chat import screening
from api.chat.models import Message, Turn
from api.chat.rasa import RasaClient
from api.csat import service as csat
from api.db import Conn, Pool
from api.errors import Forbidden, NotFound, RasaTimeout, RasaUnavailable, ValidationFailed
from api.kb import service as kb
from api.observability import metrics, tracing
from api.settings import Settings
from api.stepup import service as stepup

log = logging.getLogger(__name__)
Q = sql.load("api.chat")
OPEN_TICKET = "deskmate:open_ticket"
KB_HELPFUL = re.compile(r"^deskmate:kb_helpful:(\d{1,18})$")
TICKET_BUTTON = {"title": "Open a ticket", "payload": OPEN_TICKET}
RESTARTING = ("The assistant is restarting and can't answer right now. Try again in a minute, "
              "or open a ticket and the service desk will pick it up.")
NO_REPLY = ("Sorry, I couldn't come up with an answer to that just now. Try asking again in other words, "
            "or open a ticket and the service desk will pick it up.")
SLOW = ("This is taking longer than usual. Your message is saved; ask again in a moment, "
        "or open a ticket and the service desk will pick it up.")


async def start(conn: Conn, *, channel: Channel, employee: User | None, channel_user: str | None,
                client: str = "browser") -> uuid.UUID:
    """Starts a conversation, anonymous or for a verified employee; returns its id. ``client`` is what the widget
    ran in (``browser``, or ``mobile``: its tickets carry source MOBILE)."""
    row = await (await conn.execute(Q.create_conversation, {
        "id": uuid.uuid4(), "employee_id": employee.id if employee else None, "channel": channel.value,
        "channel_user": channel_user, "client": client})).fetchone()
    assert row is not None
    return row["id"]  # type: ignore[no-any-return]


async def conversation_for(conn: Conn, *, channel: Channel, key: str, employee: User | None, channel_user: str | None,
                           ref: dict[str, Any]) -> uuid.UUID:
    """The conversation the channel names ``key`` (a Slack thread, a Teams chat), started for ``employee`` the first
    time; ``ref`` (where replies go) is kept up to date. Concurrent first messages get the same conversation."""
    row = await (await conn.execute(Q.conversation_for, {
        "id": uuid.uuid4(), "employee_id": employee.id if employee else None, "channel": channel.value,
        "channel_user": channel_user, "channel_key": key, "channel_ref": Jsonb(ref)})).fetchone()
    assert row is not None
    return row["id"]  # type: ignore[no-any-return]


async def first_delivery(conn: Conn, *, channel: Channel, event_id: str) -> bool:
    """True the first time a channel's inbound event id is seen; False for a retry or a replay of it."""
    return await (await conn.execute(Q.first_delivery, {"channel": channel.value, "event_id": event_id})
                  ).fetchone() is not None


async def get_conversation(conn: Conn, *, conversation_id: str) -> dict[str, Any]:
    row = await (await conn.execute(Q.get_conversation, {"id": conversation_id})).fetchone()
    if row is None:
        raise NotFound("No such conversation.")
    return dict(row)


def to_message(row: dict[str, Any]) -> Message:
    return Message(**{k: v for k, v in row.items() if k != "payload"}, **row["payload"])


async def store(conn: Conn, conversation_id: str, direction: str, text: str, *, payload: dict[str, Any] | None = None,
                ticket_id: int | None = None) -> Message:
    row = await (await conn.execute(Q.insert_message, {
        "conversation_id": conversation_id, "direction": direction, "text": text, "payload": Jsonb(payload or {}),
        "intent": None, "confidence": None, "ticket_id": ticket_id})).fetchone()
    assert row is not None
    return to_message(dict(row))


def bot_messages(replies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rasa's replies as stored messages; a ``custom`` reply adds links/citations to the message before it."""
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
    await store(conn, conversation_id, "user", "That solved it")
    reply = "Glad that helped! Anything else I can do for you?"
    try:
        if conversation["employee_id"] is None:
            raise NotFound("anonymous conversation")
        employee = await people.principal_by_id(conn, user_id=conversation["employee_id"])
        await kb.answer_feedback(conn, principal=employee, answer_id=answer_id, helpful=True)
    except (NotFound, Forbidden):
        reply = "Glad it's sorted! (I couldn't record that answer's rating.) Anything else?"
    return Turn(messages=[await store(conn, conversation_id, "bot", reply)], intent=None, confidence=None)


async def _rated(conn: Conn, conversation: dict[str, Any], survey_id: int, choice: str) -> Turn:
    """A button of a CSAT survey (api/csat): a 1–5 rating, or "Add a comment", if the conversation's employee is the
    ticket's requester."""
    conversation_id, employee_id = str(conversation["id"]), conversation["employee_id"]
    if choice != "comment":
        await store(conn, conversation_id, "user", choice)
        reply, buttons = await csat.answer_in_chat(conn, survey_id=survey_id, score=int(choice),
                                                   employee_id=employee_id)
        return Turn(messages=[await store(conn, conversation_id, "bot", reply, payload={"buttons": buttons})],
                    intent=None, confidence=None)
    await store(conn, conversation_id, "user", "Add a comment")
    text, asking = await csat.comment_prompt(conn, survey_id=survey_id, employee_id=employee_id)
    prompt = await store(conn, conversation_id, "bot", text)
    if asking:
        await csat.prompt_comment(conn, survey_id=survey_id, prompt_id=prompt.id)
    return Turn(messages=[prompt], intent=None, confidence=None)


async def _commented(conn: Conn, conversation_id: str, survey: dict[str, Any], text: str) -> Turn:
    """The message right after the bot asked for a CSAT comment: the comment, not a turn for the bot."""
    await store(conn, conversation_id, "user", text)
    reply = await csat.comment_in_chat(conn, survey=survey, text=text)
    return Turn(messages=[await store(conn, conversation_id, "bot", reply)], intent=None, confidence=None)


def turn_metadata(settings: Settings, conversation: dict[str, Any]) -> dict[str, Any]:
    """What Rasa (and through it the action server) learns about the turn: never who, only a signed assertion."""
    conversation_id = str(conversation["id"])
    email = conversation["employee_email"]
    return {"conversation_id": conversation_id, "channel": conversation["channel"],
            "assertion": assertions.mint(settings, subject=email, conversation_id=conversation_id) if email else None,
            **tracing.metadata()}  # the request's trace, on to Rasa's logs and the action server's api calls


async def post_message(pool: Pool, settings: Settings, rasa: RasaClient, *, conversation_id: str, text: str) -> Turn:
    """Stores the user's text, forwards it to Rasa and stores and returns the bot's replies.

    The user's message is stored before Rasa is asked, so it survives Rasa being down or slow; the reply
    then says which (restarting / taking longer) and offers a ticket. While a step-up check is open in the
    conversation, a typed code is checked here and Rasa gets only the outcome (api/chat/screening.py). Button
    payloads of the core (a KB answer that helped, a CSAT rating) and a CSAT comment the bot just asked for are
    handled here and never reach Rasa.

    No connection is held while Rasa answers: its actions call back into the api (knowledge search, tickets),
    and turns that held theirs would starve those calls once the pool is busy.
    """
    if len(text) > settings.chat_max_chars:
        raise ValidationFailed(f"Messages are limited to {settings.chat_max_chars} characters; this one has {len(text)}.")
    started, reply, outcome = time.perf_counter(), None, "answered"  # for metrics.observe_turn
    # the text's hint (one sentence embedding) is computed while the database work below runs; never for a text
    # that may hold a step-up code, nor for the buttons answered here
    early = stepup.redact(text) == text and not (KB_HELPFUL.match(text) or csat.BUTTON.match(text))
    hint = asyncio.create_task(rasa.hint(text)) if early else None
    forwarded = False
    try:
        async with pool.connection() as conn:
            conversation = await get_conversation(conn, conversation_id=conversation_id)
            await _check_rate(conn, settings, conversation_id)
            if helped := KB_HELPFUL.match(text):
                return await _answer_helped(conn, conversation, int(helped.group(1)))
            if rated := csat.BUTTON.match(text):
                return await _rated(conn, conversation, int(rated.group(1)), rated.group(2))
            if survey := await csat.awaiting_comment(conn, conversation_id=conversation_id):
                return await _commented(conn, conversation_id, survey, text)
            screened = await screening.screen(conn, settings, conversation=conversation, text=text)  # codes stay
            user_message = await store(conn, conversation_id, "user", screened.kept)
            forwarded = screened.to_rasa == text  # else Rasa gets a step-up outcome, not the text: no hint
    finally:
        if hint is not None and not forwarded:  # answered here, refused, or not the text: the hint is not needed
            hint.cancel()
            hint = None
    intent = confidence = None
    try:
        reply = await rasa.send(sender=conversation_id, text=screened.to_rasa,
                                metadata=turn_metadata(settings, conversation), hint=hint)
        replies, intent, confidence = bot_messages(reply.messages), reply.intent, reply.confidence
        if not replies:  # an action that failed (or timed out) in the action server leaves the turn silent
            outcome = "no_reply"
            log.warning("assistant gave no reply", extra={"conversation_id": conversation_id, "intent": intent})
            replies = [{"text": NO_REPLY, "payload": {"buttons": [TICKET_BUTTON]}}]
    except RasaUnavailable as exc:
        log.warning("assistant unavailable", extra={"error": exc.detail, "conversation_id": conversation_id})
        apology = SLOW if isinstance(exc, RasaTimeout) else RESTARTING
        outcome = "rasa_timeout" if isinstance(exc, RasaTimeout) else "rasa_unavailable"
        replies = [{"text": apology, "payload": {"buttons": [TICKET_BUTTON]}}]
    async with pool.connection() as conn:
        if intent:
            await conn.execute(Q.set_intent, {"id": user_message.id, "intent": intent, "confidence": confidence})
        opened = await (await conn.execute(Q.turn_ticket, {"conversation_id": conversation_id,
                                                            "user_message_id": user_message.id})).fetchone()
        stored = [await store(conn, conversation_id, "bot", r["text"], payload=r["payload"],
                              ticket_id=opened["ticket_id"] if opened and i == len(replies) - 1 else None)
                  for i, r in enumerate(replies)]
    metrics.observe_turn(total_s=time.perf_counter() - started, rasa_s=reply.rasa_s if reply else None,
                         action_s=reply.action_s if reply else None, outcome=outcome)
    return Turn(messages=stored, intent=intent, confidence=confidence)


def as_seen(messages: list[Message]) -> list[Message]:
    """The messages as the employee saw them: a button press (stored as its payload, ``/affirm``) shows the title of
    the latest button offered with that payload ("Yes, submit")."""
    titles: dict[str, str] = {}
    seen = []
    for m in messages:
        if m.direction == "bot":
            titles |= {b.payload: b.title for b in m.buttons}
        elif m.text in titles:
            m = m.model_copy(update={"text": titles[m.text]})
        seen.append(m)
    return seen


async def transcript(conn: Conn, *, conversation_id: str, limit: int = 500, after: int | None = None) -> list[Message]:
    """The last ``limit`` messages, oldest first; with ``after``, the first ``limit`` messages newer than it."""
    await get_conversation(conn, conversation_id=conversation_id)
    query, params = Q.list_messages, {"id": conversation_id, "limit": limit}
    if after is not None:
        query, params = Q.list_messages_after, params | {"after": after}
    rows = await (await conn.execute(query, params)).fetchall()
    return [to_message(dict(r)) for r in rows]
