"""What happens after a ticket event: one place that runs the triage steps in order.

Each event of a ticket is processed once, in order, in its own transaction together with moving the
ticket's cursor past it: a crash redoes the whole event or none of it.

    created        → classify, set category/urgency/impact, route and assign   (api.routing.engine)
    assigned/updated by a person after triage → feedback, corrected category = labelled example
    every event    → the SLA clock moves                                        (api.sla.clock)
    every event    → alert rules fire                                           (api.alerts.fire)
    every event    → recorded for each sync connector (not the one it came from) (api.integrations.sync.outbox)

One bad input stalls nothing: each step runs in a savepoint; a step that raises is rolled back,
recorded in ``triage_failures`` (the dead letter, with the error text) and logged at ERROR, and the
event's other steps still run and the cursor still advances. Only a lost database connection fails
the job (procrastinate retries it; the event is then redone whole).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import psycopg

from api import sql
from api.alerts import fire
from api.db import Conn
from api.integrations.sync import outbox as sync_outbox
from api.kb.embedding import Embedder
from api.routing import engine, feedback
from api.settings import Settings
from api.sla import clock
from api.triage import queue
from api.triage.models import Failure

log = logging.getLogger(__name__)
Q = sql.load("api.triage")
ERROR_MAX = 2000  # characters of an error kept in triage_failures


@dataclass(frozen=True)
class Context:
    """What every step of one event gets."""

    event: dict[str, Any]
    settings: Settings
    embedder: Embedder
    system_id: int


async def _route(conn: Conn, c: Context) -> None:
    if c.event["kind"] == "created":
        await engine.triage_new(conn, ticket_id=c.event["ticket_id"], settings=c.settings, embedder=c.embedder)


async def _feedback(conn: Conn, c: Context) -> None:
    await feedback.record(conn, event=c.event, embedder=c.embedder, system_id=c.system_id)


async def _sla(conn: Conn, c: Context) -> None:
    await clock.on_event(conn, event=c.event, system_id=c.system_id)


async def _alerts(conn: Conn, c: Context) -> None:
    await fire.on_event(conn, event=c.event, settings=c.settings)


async def _sync(conn: Conn, c: Context) -> None:
    await sync_outbox.record(conn, event=c.event)


Step = Callable[[Conn, Context], Awaitable[None]]
# The steps in order: (name, step). Tests may replace one to make it fail.
STEPS: list[tuple[str, Step]] = [("route", _route), ("feedback", _feedback), ("sla", _sla), ("alerts", _alerts),
                                   ("sync", _sync)]


async def _run_step(conn: Conn, name: str, step: Step, c: Context) -> bool:
    """Runs one step in a savepoint; a failure is rolled back, recorded and logged. Returns whether it ran."""
    try:
        async with conn.transaction():
            await step(conn, c)
        return True
    except psycopg.OperationalError:
        raise  # the connection, not the input: the job is retried
    except Exception as exc:  # any other failure is this event's: it must not stall the ticket
        error = f"{type(exc).__name__}: {exc}"[:ERROR_MAX]
        log.error("triage step failed; skipped", exc_info=exc, extra={
            "ticket_id": c.event["ticket_id"], "event_id": c.event["id"], "step": name})
        await conn.execute(Q.insert_failure, {"ticket_id": c.event["ticket_id"], "event_id": c.event["id"],
                                              "step": name, "error": error})
        return False


async def handle(conn: Conn, *, event: dict[str, Any], settings: Settings, embedder: Embedder) -> list[str]:
    """Runs the triage steps for one event (the caller holds the transaction); returns the steps that failed."""
    system = await engine.triage_principal(conn)
    c = Context(event=event, settings=settings, embedder=embedder, system_id=system.id)
    return [name for name, step in STEPS if not await _run_step(conn, name, step, c)]


async def process_ticket(conn: Conn, *, ticket_id: int, settings: Settings, embedder: Embedder) -> int:
    """Processes the ticket's events after its cursor, oldest first, until none is left; returns how many."""
    token = queue.processing.set(ticket_id)  # the events written here are read by this loop, not by new jobs
    try:
        return await _process(conn, ticket_id=ticket_id, settings=settings, embedder=embedder)
    finally:
        queue.processing.reset(token)


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


async def list_failures(conn: Conn, *, ticket_id: int | None = None, limit: int = 100) -> list[Failure]:
    """The steps that failed, newest first (optionally of one ticket)."""
    rows = await (await conn.execute(Q.list_failures, {"ticket_id": ticket_id, "limit": limit})).fetchall()
    return [Failure(**r) for r in rows]
