"""Helpers of the portal tests: tickets of a person, made through the ticket service."""

from __future__ import annotations

import psycopg

from api.auth import service as people
from api.tickets import service as tickets
from api.tickets.models import Ticket, TicketCreate


async def ticket_of(conn: psycopg.AsyncConnection, *, user_id: int, title: str) -> Ticket:
    principal = await people.principal_by_id(conn, user_id=user_id)  # type: ignore[arg-type]
    ticket, _ = await tickets.create(conn, principal=principal, data=TicketCreate(title=title))  # type: ignore[arg-type]
    return ticket
