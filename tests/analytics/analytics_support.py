"""A known history for the analytics tests, written with SQL at fixed past instants (docs/analytics.md).

Everything lands in a fresh team and fresh categories, and the conversations in a period no other test
writes to, so exact values can be asserted in the shared test database.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb


def at(day: int, hour: int, minute: int = 0, *, month: int = 3, year: int = 2019) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


@dataclass
class Seeded:
    team: str
    categories: tuple[str, str]
    tickets: dict[str, int]


def _slug(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def _one(conn: AsyncConnection, query: str, params: dict[str, Any]) -> Any:
    row = await (await conn.execute(query, params)).fetchone()
    assert row is not None
    return next(iter(row.values())) if isinstance(row, dict) else row[0]


async def _ticket(conn: AsyncConnection, *, team_id: int, category_id: int, requester_id: int, source: str,
                  status: str, created: datetime, resolved: datetime | None) -> int:
    return await _one(conn, """
        INSERT INTO tickets (number, type, title, urgency, impact, priority, status, requester_id, team_id,
                             category_id, source_type, created_at, updated_at, resolved_at)
        VALUES (%(number)s, 'incident', 'Analytics seed', 2, 2, 3, %(status)s, %(requester)s, %(team)s,
                %(category)s, %(source)s, %(created)s, %(created)s, %(resolved)s) RETURNING id""", {
        "number": _slug("AN"), "status": status, "requester": requester_id, "team": team_id,
        "category": category_id, "source": source, "created": created, "resolved": resolved})


async def _event(conn: AsyncConnection, ticket_id: int, actor_id: int | None, kind: str, when: datetime,
                 before: dict[str, Any] | None = None, after: dict[str, Any] | None = None) -> None:
    await conn.execute(
        "INSERT INTO ticket_events (ticket_id, actor_id, kind, before, after, created_at) "
        "VALUES (%s, %s, %s, %s, %s, %s)",
        (ticket_id, actor_id, kind, Jsonb(before) if before is not None else None,
         Jsonb(after) if after is not None else None, when))


async def _status(conn: AsyncConnection, ticket_id: int, actor_id: int, when: datetime, old: str, new: str) -> None:
    await _event(conn, ticket_id, actor_id, "status_changed", when, {"status": old}, {"status": new})


async def _clock(conn: AsyncConnection, ticket_id: int, started: datetime, *, resolve_breached: datetime | None,
                 resolved: datetime) -> None:
    await conn.execute(
        "INSERT INTO ticket_sla (ticket_id, started_at, respond_target_s, resolve_target_s, warn_ratio, "
        "resolved_at, resolve_breached_at) VALUES (%s, %s, 3600, 28800, 0.8, %s, %s)",
        (ticket_id, started, resolved, resolve_breached))


async def seed_tickets(conn: AsyncConnection, *, requester_id: int, agent_id: int) -> Seeded:
    """Four tickets in March 2019 for a fresh team with Mon-Fri 09:00-17:00 UTC business hours.

    A  WEB      created Fri 8th 16:00, assigned 16:30, resolved Mon 11th 10:00 (2 business hours, spans a weekend)
    B  EMAIL    created Mon 4th 09:00, assigned 10:00, resolved 13:00, reopened Tue 5th 09:00, resolved 11:00
    C  CHATBOT  created Wed 6th 12:00, nobody responded, still new
    D  WEB      created Tue 5th 14:00, assigned 15:00, pending Wed 6th 09:00, back Thu 7th 09:00, resolved 10:00
    SLA clocks on A, B, D; B breached its resolve target (event Tue 5th 08:00).
    """
    team, cat_a, cat_b, calendar = _slug("team"), _slug("cat"), _slug("cat"), _slug("cal")
    team_id = await _one(conn, "INSERT INTO teams (slug, name) VALUES (%(s)s, %(s)s) RETURNING id", {"s": team})
    cat_ids = [await _one(conn, "INSERT INTO categories (slug, name) VALUES (%(s)s, %(s)s) RETURNING id", {"s": s})
               for s in (cat_a, cat_b)]
    hours = {d: [["09:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}
    cal_id = await _one(conn, "INSERT INTO business_calendars (slug, name, time_zone, hours) "
                              "VALUES (%(s)s, %(s)s, 'UTC', %(h)s) RETURNING id", {"s": calendar, "h": Jsonb(hours)})
    await conn.execute("INSERT INTO team_calendars (team_id, calendar_id) VALUES (%s, %s)", (team_id, cal_id))

    common = {"team_id": team_id, "requester_id": requester_id}
    a = await _ticket(conn, **common, category_id=cat_ids[0], source="WEB", status="resolved",
                      created=at(8, 16), resolved=at(11, 10))
    b = await _ticket(conn, **common, category_id=cat_ids[1], source="EMAIL", status="resolved",
                      created=at(4, 9), resolved=at(5, 11))
    c = await _ticket(conn, **common, category_id=cat_ids[0], source="CHATBOT", status="new",
                      created=at(6, 12), resolved=None)
    d = await _ticket(conn, **common, category_id=cat_ids[0], source="WEB", status="resolved",
                      created=at(5, 14), resolved=at(7, 10))
    for ticket, created in ((a, at(8, 16)), (b, at(4, 9)), (c, at(6, 12)), (d, at(5, 14))):
        await _event(conn, ticket, requester_id, "created", created, None, {"status": "new"})
    await _event(conn, a, agent_id, "assigned", at(8, 16, 30), {"assignee_id": None}, {"assignee_id": agent_id})
    await _status(conn, a, agent_id, at(11, 10), "assigned", "resolved")
    await _event(conn, b, agent_id, "assigned", at(4, 10), {"assignee_id": None}, {"assignee_id": agent_id})
    await _status(conn, b, agent_id, at(4, 13), "assigned", "resolved")
    await _status(conn, b, requester_id, at(5, 9), "resolved", "in_progress")
    await _status(conn, b, agent_id, at(5, 11), "in_progress", "resolved")
    await _event(conn, b, None, "sla_breach", at(5, 8), None, {"target": "resolve", "due_at": at(4, 17).isoformat()})
    await _event(conn, d, agent_id, "assigned", at(5, 15), {"assignee_id": None}, {"assignee_id": agent_id})
    await _status(conn, d, agent_id, at(6, 9), "assigned", "pending")
    await _status(conn, d, requester_id, at(7, 9), "pending", "in_progress")
    await _status(conn, d, agent_id, at(7, 10), "in_progress", "resolved")
    await _clock(conn, a, at(8, 16), resolve_breached=None, resolved=at(11, 10))
    await _clock(conn, b, at(4, 9), resolve_breached=at(5, 8), resolved=at(5, 11))
    await _clock(conn, d, at(5, 14), resolve_breached=None, resolved=at(7, 10))
    return Seeded(team=team, categories=(cat_a, cat_b), tickets={"A": a, "B": b, "C": c, "D": d})


async def _conversation(conn: AsyncConnection, employee_id: int, when: datetime) -> str:
    cid = str(uuid.uuid4())
    await conn.execute("INSERT INTO chat_conversations (id, employee_id, channel, created_at, last_message_at) "
                       "VALUES (%s, %s, 'web', %s, %s)", (cid, employee_id, when, when))
    return cid


async def _message(conn: AsyncConnection, cid: str, direction: str, text: str, when: datetime, *,
                   intent: str | None = None, confidence: float | None = None, payload: dict[str, Any] | None = None,
                   ticket_id: int | None = None) -> None:
    await conn.execute(
        "INSERT INTO chat_messages (conversation_id, direction, text, payload, intent, confidence, ticket_id, "
        "created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
        (cid, direction, text, Jsonb(payload or {}), intent, confidence, ticket_id, when))


async def _kb_answer(conn: AsyncConnection, user_id: int, question: str, helpful: bool | None, when: datetime) -> int:
    return await _one(conn, "INSERT INTO kb_answers (user_id, question, mode, confident, answer, helpful, created_at) "
                            "VALUES (%(u)s, %(q)s, 'extractive', true, 'Try this.', %(h)s, %(w)s) RETURNING id",
                      {"u": user_id, "q": question, "h": helpful, "w": when})


async def seed_conversations(conn: AsyncConnection, *, employee_id: int, ticket_id: int, month: int = 3,
                             year: int = 2019) -> None:
    """Four conversations in the month: two the bot resolved (a helpful KB answer; a verified workflow run),
    one escalated to ``ticket_id``, one that went nowhere after a fallback turn and a "didn't help"."""
    def t(day: int, hour: int) -> datetime:
        return at(day, hour, month=month, year=year)

    helped = await _kb_answer(conn, employee_id, "How do I reset my password?", True, t(4, 10))
    c1 = await _conversation(conn, employee_id, t(4, 10))
    await _message(conn, c1, "user", "How do I reset my password?", t(4, 10), intent="password_reset", confidence=0.93)
    await _message(conn, c1, "bot", "Try this.", t(4, 10), payload={
        "buttons": [{"title": "That solved it", "payload": f"deskmate:kb_helpful:{helped}"}]})

    c2 = await _conversation(conn, employee_id, t(5, 10))
    await _message(conn, c2, "user", "My password reset does not work", t(5, 10), intent="password_reset",
                   confidence=0.88)
    await _message(conn, c2, "bot", "I opened a ticket.", t(5, 10), ticket_id=ticket_id)

    c3 = await _conversation(conn, employee_id, t(6, 10))
    await _message(conn, c3, "user", "Install Slack please", t(6, 10), intent="software_request", confidence=0.8)
    # a verified run of the shipped account_unlock (loaded when the app starts: the test asks for `app`); a
    # made-up definition would be listed by GET /workflows for the rest of the session
    await conn.execute(
        "INSERT INTO workflow_runs (definition_id, workflow, status, requester_id, verified, conversation_id, "
        "created_at, finished_at) SELECT id, name, 'succeeded', %s, true, %s, %s, %s FROM workflow_definitions "
        "WHERE name = 'account_unlock' ORDER BY version DESC LIMIT 1", (employee_id, c3, t(6, 10), t(6, 11)))

    unhelpful = await _kb_answer(conn, employee_id, "Printer on floor 3 jams", False, t(7, 10))
    c4 = await _conversation(conn, employee_id, t(7, 10))
    await _message(conn, c4, "user", "blorp the frobnicator", t(7, 10), intent="nlu_fallback", confidence=0.2)
    await _message(conn, c4, "user", "Printer on floor 3 jams", t(7, 10, ), intent="printer_issue", confidence=0.25)
    await _message(conn, c4, "bot", "Try this.", t(7, 10), payload={
        "buttons": [{"title": "That solved it", "payload": f"deskmate:kb_helpful:{unhelpful}"}]})
