"""Helpers of the sync tests: open tickets, run the worker, read both sides."""

from __future__ import annotations

from typing import Any

from fakes.glpi_server import FakeGlpi
from fakes.triage import drain

from api.auth.models import Principal, Role
from api.settings import Settings
from api.tickets import service as tickets
from api.tickets.models import Ticket, TicketCreate

QUEUES = ["triage", "sync"]


async def open_ticket(conn: Any, actor: Any, title: str, **fields: Any) -> Ticket:
    principal = Principal(id=actor.user.id, email=actor.user.email, name=actor.user.name, role=actor.user.role)
    ticket, _ = await tickets.create(conn, principal=principal, data=TicketCreate(title=title, **fields))
    return ticket


def staff(actor: Any) -> Principal:
    return Principal(id=actor.user.id, email=actor.user.email, name=actor.user.name, role=Role.admin)


async def run_worker(settings: Settings) -> None:
    """Triage and sync jobs until none is due (``deskmate worker --burst``)."""
    await drain(settings, queues=QUEUES)


async def time_passes(conn: Any) -> None:
    """Makes the sync jobs waiting for their backoff due now (the clock moved on)."""
    await conn.execute("UPDATE procrastinate_jobs SET scheduled_at = now() "
                       "WHERE queue_name = 'sync' AND status = 'todo' AND scheduled_at > now()")


def remote_by_number(fake: FakeGlpi, number: str) -> list[dict[str, Any]]:
    return [t for t in fake.tickets.values() if t["externalid"] == number]


async def outbox(conn: Any, ticket_id: int) -> list[dict[str, Any]]:
    cur = await conn.execute("SELECT o.status, o.last_error, o.attempts, e.kind FROM sync_outbox o "
                             "JOIN ticket_events e ON e.id = o.event_id WHERE o.ticket_id = %s ORDER BY o.id",
                             (ticket_id,))
    return list(await cur.fetchall())
