"""Feedback: what people changed after triage decided (reassignments, category corrections).

A corrected category also makes the ticket a labelled classification example. Reading feedback
follows the ticket service's visibility rule: agents see the feedback of tickets they may see,
admins everything.
"""

from __future__ import annotations

from typing import Any

from psycopg.types.json import Jsonb

from api import sql
from api.auth.models import Principal
from api.db import Conn
from api.kb.embedding import Embedder
from api.routing import classify as classifier
from api.routing.engine import list_decisions
from api.routing.models import Feedback
from api.tickets import service as tickets

Q = sql.load("api.routing")


def _kind(event: dict[str, Any], system_id: int) -> str | None:
    """The feedback an event stands for: a person (not triage) reassigned or re-categorised the ticket."""
    if event["actor_id"] in (None, system_id) or event["kind"] not in ("assigned", "updated"):
        return None
    if event["kind"] == "updated" and "category_id" not in (event["after"] or {}):
        return None
    return "reassigned" if event["kind"] == "assigned" else "recategorised"


async def record(conn: Conn, *, event: dict[str, Any], embedder: Embedder, system_id: int) -> str | None:
    """Keeps a person's change after triage as feedback; a new category also makes the ticket a labelled
    example. Returns the feedback kind, or None."""
    kind = _kind(event, system_id)
    if kind is None:
        return None
    after, before = event["after"] or {}, event["before"] or {}
    decisions = await list_decisions(conn, ticket_id=event["ticket_id"])
    if kind == "reassigned" and not decisions:
        return None
    await conn.execute(Q.insert_feedback, {
        "ticket_id": event["ticket_id"], "decision_id": decisions[0].id if decisions else None,
        "event_id": event["id"], "actor_id": event["actor_id"], "kind": kind,
        "before": Jsonb(before), "after": Jsonb(after),
    })
    if kind == "recategorised" and after.get("category_id") is not None:
        t = await (await conn.execute(Q.ticket_text, {"ticket_id": event["ticket_id"]})).fetchone()
        assert t is not None
        await classifier.learn(conn, embedder=embedder, ticket_id=event["ticket_id"], category_id=after["category_id"],
                               title=t["title"], description=t["description"], actor_id=event["actor_id"])
    return kind


async def list_feedback(conn: Conn, *, principal: Principal, ticket_id: int | None = None,
                        limit: int = 100) -> list[Feedback]:
    """Feedback on the tickets ``principal`` may see (tickets.can_see), newest first."""
    if ticket_id is not None:
        await tickets.get_or_raise(conn, principal=principal, ref=ticket_id)  # NotFound unless visible
    found: list[Feedback] = []
    before_id: int | None = None
    while len(found) < limit:
        rows = await (await conn.execute(Q.list_feedback, {
            "ticket_id": ticket_id, "before_id": before_id, "limit": limit})).fetchall()
        found += [Feedback(**r) for r in rows if tickets.can_see(principal, r["ticket"])]
        if len(rows) < limit:
            break
        before_id = rows[-1]["id"]
    return found[:limit]
