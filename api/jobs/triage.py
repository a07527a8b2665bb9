"""What happens after a ticket event: one place that runs the triage steps in order.

Each event of a ticket is processed once, in order, in its own transaction together with moving the
ticket's cursor past it: a crash redoes the whole event or none of it.

    created        → classify, set category/urgency/impact, route and assign   (api.routing)
    assigned/updated by a person after triage → feedback, corrected category = labelled example
    every event    → the SLA clock moves                                        (api.sla)
    every event    → alert rules fire                                           (api.alerts)
"""

from __future__ import annotations

from typing import Any

from api import jobs, sql
from api.alerts import fire
from api.db import Conn
from api.routing import service as routing
from api.routing.embedding import Embedder
from api.settings import Settings
from api.sla import service as sla

Q = sql.load("api.jobs")


async def handle(conn: Conn, *, event: dict[str, Any], settings: Settings, embedder: Embedder) -> None:
    """Runs the triage steps for one event (the caller holds the transaction)."""
    system = await routing.triage_principal(conn)
    if event["kind"] == "created":
        await routing.triage_new(conn, ticket_id=event["ticket_id"], settings=settings, embedder=embedder)
    await routing.record_feedback(conn, event=event, embedder=embedder, system_id=system.id)
    await sla.on_event(conn, event=event, system_id=system.id)
    await fire.on_event(conn, event=event, settings=settings)


async def process_ticket(conn: Conn, *, ticket_id: int, settings: Settings, embedder: Embedder) -> int:
    """Processes the ticket's events after its cursor, oldest first, until none is left; returns how many."""
    token = jobs.processing.set(ticket_id)  # the events written here are read by this loop, not by new jobs
    try:
        return await _process(conn, ticket_id=ticket_id, settings=settings, embedder=embedder)
    finally:
        jobs.processing.reset(token)


async def _process(conn: Conn, *, ticket_id: int, settings: Settings, embedder: Embedder) -> int:
    done = 0
    while True:
        async with conn.transaction():
            await conn.execute(Q.ensure_cursor, {"ticket_id": ticket_id})
            cursor = await (await conn.execute(Q.lock_cursor, {"ticket_id": ticket_id})).fetchone()
            assert cursor is not None
            event = await (await conn.execute(Q.next_event, {
                "ticket_id": ticket_id, "after_id": cursor["last_event_id"]})).fetchone()
            if event is None:
                return done
            await handle(conn, event=dict(event), settings=settings, embedder=embedder)
            await conn.execute(Q.advance_cursor, {"ticket_id": ticket_id, "event_id": event["id"]})
        done += 1
