"""What the portal shows of an employee's tickets, read through the ticket and chat services (their rights)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from api.auth.models import Principal
from api.chat import service as chat
from api.chat.models import Message
from api.db import Conn
from api.errors import NotFound
from api.tickets import service as tickets
from api.tickets.models import OPEN_STATUSES, Comment, SourceType, Ticket

LIST_LIMIT = 100
TRANSCRIPT_LIMIT = 200
CHAT_SOURCES = frozenset({SourceType.CHATBOT, SourceType.MOBILE})


@dataclass(frozen=True)
class TicketView:
    ticket: Ticket
    comments: list[Comment]
    transcript: list[Message] | None


async def my_tickets(conn: Conn, *, principal: Principal) -> list[Ticket]:
    """The tickets ``principal`` asked for, open ones first, newest first within each."""
    page = await tickets.list_tickets(conn, principal=principal, filters=tickets.Filters(requester_id=principal.id),
                                      limit=LIST_LIMIT)
    return sorted(page.items, key=lambda t: (t.status not in OPEN_STATUSES, -t.id))


async def my_ticket(conn: Conn, *, principal: Principal, number: str) -> Ticket:
    """``principal``'s own ticket ``number``; NotFound for anyone else's (even one an agent may work on)."""
    ticket = await tickets.get_or_raise(conn, principal=principal, ref=number)
    if ticket.requester_id != principal.id:
        raise NotFound(f"No ticket {number} of yours.")
    return ticket


async def _transcript(conn: Conn, *, principal: Principal, ticket: Ticket) -> list[Message] | None:
    """The conversation that opened the ticket, when it did and it is the requester's (and not purged yet)."""
    if ticket.source_type not in CHAT_SOURCES or not ticket.source_reference:
        return None
    try:
        conversation_id = str(uuid.UUID(ticket.source_reference))
        conversation = await chat.get_conversation(conn, conversation_id=conversation_id)
    except (ValueError, NotFound):
        return None
    if conversation["employee_id"] != principal.id:
        return None
    return chat.as_seen(await chat.transcript(conn, conversation_id=conversation_id, limit=TRANSCRIPT_LIMIT))


async def ticket_view(conn: Conn, *, principal: Principal, number: str) -> TicketView:
    """The ticket, its public comments (never internal notes, whoever asks) and its conversation."""
    ticket = await my_ticket(conn, principal=principal, number=number)
    comments, _ = await tickets.list_comments(conn, principal=principal, ref=ticket.id)
    return TicketView(ticket=ticket, comments=[c for c in comments if not c.internal],
                      transcript=await _transcript(conn, principal=principal, ticket=ticket))
