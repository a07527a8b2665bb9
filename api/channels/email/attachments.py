"""The files a ticket's e-mails brought: listed to whoever may see the ticket, served only as downloads."""

from __future__ import annotations

from urllib.parse import quote

from api import sql
from api.auth.models import Principal
from api.channels.email.models import Attachment, AttachmentFile
from api.db import Conn
from api.errors import NotFound
from api.tickets import service as tickets

Q = sql.load("api.channels.email")


async def list_for_ticket(conn: Conn, *, principal: Principal, ref: str) -> list[Attachment]:
    ticket = await tickets.get_or_raise(conn, principal=principal, ref=ref)
    rows = await (await conn.execute(Q.list_attachments, {"ticket_id": ticket.id})).fetchall()
    return [Attachment(**r) for r in rows]


async def get(conn: Conn, *, principal: Principal, ref: str, attachment_id: int) -> AttachmentFile:
    ticket = await tickets.get_or_raise(conn, principal=principal, ref=ref)
    row = await (await conn.execute(Q.get_attachment, {"id": attachment_id})).fetchone()
    if row is None or row["ticket_id"] != ticket.id:
        raise NotFound(f"No attachment {attachment_id} on {ticket.number}.")
    return AttachmentFile(**row)


def disposition(filename: str) -> str:
    """A Content-Disposition that names the file safely (RFC 6266 filename*)."""
    return f"attachment; filename*=UTF-8''{quote(filename, safe='')}"
