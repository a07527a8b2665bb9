"""Major incidents: declared by an agent, or automatically by matching; withdrawn by an agent.

A declaration is a row in ``major_incidents`` and a change of the ticket through the ticket service (impact 1,
``integration_metadata.major_incident``), so the ticket's audit trail has an event for it and the alert rules
see the raised priority. Declaring takes the matching lock (api.incidents.matching) like linking does.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from api import sql
from api.auth.models import Principal
from api.db import Conn
from api.errors import Forbidden, InvalidTransition, NotFound
from api.incidents import affected
from api.incidents.models import AffectedUser, MajorIncident, MajorIncidentIn
from api.kb.embedding import Embedder, to_pgvector
from api.routing import engine
from api.tickets import service as tickets
from api.tickets.models import Ticket, TicketUpdate
from api.types import OPEN_STATUSES

Q = sql.load("api.incidents")
METADATA_KEY = "major_incident"


def match_text(title: str, summary: str) -> str:
    """What a major incident is matched by: its title and the agent's summary."""
    return f"{title}. {summary}".strip(". ") if summary else title


async def _staff_ticket(conn: Conn, principal: Principal, ref: str | int) -> Ticket:
    ticket = await tickets.get_or_raise(conn, principal=principal, ref=ref)
    if not tickets.can_work(principal, ticket.model_dump()):
        raise Forbidden("Only the agents of the ticket's team, or admins, handle its major incident.")
    return ticket


def _declaration(row: dict[str, Any], ticket: Ticket, n: int) -> MajorIncident:
    return MajorIncident(ticket_id=ticket.id, number=ticket.number, declared_by=row["declared_by"],
                         automatic=row["automatic"], summary=row["summary"], declared_at=row["declared_at"],
                         affected=n)


async def mark(conn: Conn, *, actor: Principal, ticket: Ticket, summary: str, embedding: str | None,
               automatic: bool) -> tuple[MajorIncident, bool]:
    """Declares ``ticket`` a major incident (the caller holds the matching lock in a transaction); returns the
    declaration and whether it is new (False: it already was one)."""
    if ticket.status not in OPEN_STATUSES:
        raise InvalidTransition(f"{ticket.number} is {ticket.status}; only an open ticket can be a major incident.")
    row = await (await conn.execute(Q.insert_major, {
        "ticket_id": ticket.id, "declared_by": actor.id, "automatic": automatic, "summary": summary,
        "embedding": embedding})).fetchone()
    if row is None:
        existing = await (await conn.execute(Q.get_major, {"ticket_id": ticket.id})).fetchone()
        assert existing is not None
        return _declaration(existing, ticket, await affected.count(conn, ticket_id=ticket.id)), False
    note = {"declared_by": actor.id, "automatic": automatic, "declared_at": datetime.now(UTC).isoformat()}
    await tickets.update(conn, principal=actor, ref=ticket.id, data=TicketUpdate(
        impact=1, integration_metadata=ticket.integration_metadata | {METADATA_KEY: note}))
    return _declaration(row, ticket, await affected.count(conn, ticket_id=ticket.id)), True


async def declare(conn: Conn, *, principal: Principal, ref: str | int, data: MajorIncidentIn,
                  embedder: Embedder) -> tuple[MajorIncident, bool]:
    """An agent declares a ticket a major incident; returns it and whether it is new."""
    ticket = await _staff_ticket(conn, principal, ref)
    embedding = to_pgvector(await embedder.aembed_query(match_text(ticket.title, data.summary)))
    async with conn.transaction():
        await conn.execute(Q.lock_matching)
        ticket = await _staff_ticket(conn, principal, ticket.id)  # as it is now, under the lock
        return await mark(conn, actor=principal, ticket=ticket, summary=data.summary, embedding=embedding,
                          automatic=False)


async def declare_automatically(conn: Conn, *, ticket_id: int) -> MajorIncident:
    """Matching found enough similar reports: the triage system declares the ticket (the caller holds the lock).
    No summary: the reports linked to it are what new reports match."""
    system = await engine.triage_principal(conn)
    ticket = await tickets.get_or_raise(conn, principal=system, ref=ticket_id)
    declaration, _ = await mark(conn, actor=system, ticket=ticket, summary="", embedding=None, automatic=True)
    return declaration


async def get(conn: Conn, *, principal: Principal, ref: str | int) -> MajorIncident:
    ticket = await _staff_ticket(conn, principal, ref)
    row = await (await conn.execute(Q.get_major, {"ticket_id": ticket.id})).fetchone()
    if row is None:
        raise NotFound(f"{ticket.number} is not a major incident.")
    return _declaration(row, ticket, await affected.count(conn, ticket_id=ticket.id))


async def withdraw(conn: Conn, *, principal: Principal, ref: str | int) -> None:
    """Withdraws the declaration (the affected people stay linked); the ticket's event records it."""
    async with conn.transaction():
        await conn.execute(Q.lock_matching)
        ticket = await _staff_ticket(conn, principal, ref)
        if await (await conn.execute(Q.delete_major, {"ticket_id": ticket.id})).fetchone() is None:
            raise NotFound(f"{ticket.number} is not a major incident.")
        metadata = {k: v for k, v in ticket.integration_metadata.items() if k != METADATA_KEY}
        await tickets.update(conn, principal=principal, ref=ticket.id, data=TicketUpdate(integration_metadata=metadata))


async def list_affected(conn: Conn, *, principal: Principal, ref: str | int) -> list[AffectedUser]:
    """The people affected by a ticket: for the service desk (names and addresses of other employees)."""
    ticket = await tickets.get_or_raise(conn, principal=principal, ref=ref)
    if not principal.is_staff:
        raise Forbidden("The people affected by a ticket are shown to the service desk only.")
    return await affected.list_affected(conn, ticket_id=ticket.id)


async def issue_ticket(conn: Conn, *, ticket_id: int) -> Ticket:
    """The ticket as a linked person sees it in the chat's answer: no description (another person's transcript)
    and no metadata."""
    system = await engine.triage_principal(conn)
    ticket = await tickets.get_or_raise(conn, principal=system, ref=ticket_id)
    return ticket.model_copy(update={"description": "", "integration_metadata": {}})
