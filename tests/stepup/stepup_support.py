"""Helpers of the step-up tests: a clock tests move, an employee in a conversation, codes read where they arrive,
and a scan of every row the step-up path touches."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx

from api.auth import service as people
from api.auth.models import Role
from api.channels import Channel
from api.chat import service as chat
from api.chat.rasa import RasaClient

CODE = re.compile(r"\b(\d{6})\b")


@dataclass
class Clock:
    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def phone() -> str:
    """A fresh valid number the Twilio fake accepts."""
    return f"+1555{uuid.uuid4().int % 10**7:07d}"


async def employee_in_chat(conn, make_actor, *, mobile: str | None = None):  # type: ignore[no-untyped-def]
    """An employee (with ``mobile`` on file) and a web conversation of theirs: (actor, conversation id)."""
    actor = await make_actor(Role.employee)
    if mobile:
        await people.set_phone(conn, user_id=actor.user.id, phone=mobile)
    conversation_id = await chat.start(conn, channel=Channel.web, employee=actor.user, channel_user=None)
    return actor, str(conversation_id)


def code_in(text: str) -> str:
    found = CODE.search(text)
    assert found, "no code in the message"
    return found.group(1)


def rasa_echo() -> tuple[RasaClient, list[dict]]:
    """A Rasa channel stand-in that records what it is sent and answers one line (secret checked like Rasa's)."""
    seen: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.headers.get("X-Deskmate-Channel-Secret") != "s":
            return httpx.Response(401)
        body = json.loads(request.content)
        seen.append(body)
        return httpx.Response(200, json={"messages": [{"recipient_id": body["sender"], "text": "Checking…"}],
                                         "intent": {"name": "inform", "confidence": 0.9}})

    return RasaClient("http://rasa.test", channel_secret="s", transport=httpx.MockTransport(handler)), seen


# Every table the step-up path writes, with the rows of one employee / conversation.
TOUCHED = {
    "stepup_challenges": "user_id = %(user_id)s",
    "stepup_users": "user_id = %(user_id)s",
    "stepup_totp": "user_id = %(user_id)s",
    "chat_messages": "conversation_id = %(conversation_id)s",
    "tickets": "source_reference = %(conversation_id)s::text OR requester_id = %(user_id)s",
    "ticket_events": "ticket_id IN (SELECT id FROM tickets WHERE source_reference = %(conversation_id)s::text)",
    "idempotency_keys": "user_id = %(user_id)s",
    "rate_limits": "key IN ('stepup.user:' || %(user_id)s, 'stepup.conversation:' || %(conversation_id)s)",
    "procrastinate_jobs": "args->>'ticket_id' IN (SELECT id::text FROM tickets "
                          "WHERE source_reference = %(conversation_id)s::text)",
}


async def rows_with(conn, needle: str, *, user_id: int,  # type: ignore[no-untyped-def]
                    conversation_id: str) -> tuple[dict[str, int], int]:
    """How many rows of each touched table hold ``needle`` (as a whole number), and how many rows were read."""
    found: dict[str, int] = {}
    read = 0
    pattern = re.compile(rf"(?<![\d.]){re.escape(needle)}(?!\d)")
    for table, where in TOUCHED.items():
        rows = await (await conn.execute(f"SELECT to_jsonb(t)::text AS row FROM {table} t WHERE {where}",  # noqa: S608
                                         {"user_id": user_id, "conversation_id": conversation_id})).fetchall()
        read += len(rows)
        hits = sum(1 for r in rows if pattern.search(r["row"]))
        if hits:
            found[table] = hits
    return found, read
