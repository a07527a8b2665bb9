"""What the desk sends by e-mail: the acknowledgement of a new ticket, the answer to an unknown sender, and
``notify`` (api/channels/outbound.py) for ticket updates. All through the one SMTP client (DESKMATE_SMTP_*).

Every message carries the ticket's tag (``[INC-000123]``) in its subject and In-Reply-To / References of the
thread, and its Message-ID is stored (``email_messages``, direction 'out'), so the requester's reply finds its
ticket. Answers to an inbound message are ``Auto-Submitted: auto-replied`` (RFC 3834) and get a Message-ID made
from the inbound message, so a retried job is recognised and not sent twice. A send failure raises
:class:`api.errors.ChannelDeliveryFailed` (``permanent`` when retrying cannot help).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, Literal

from api import sql
from api.chat.models import Button
from api.db import Conn
from api.errors import ChannelDeliveryFailed, NotFound, SmtpError
from api.integrations.smtp.client import SmtpClient
from api.settings import Settings

Q = sql.load("api.channels.email")
Answer = Literal["ack", "reject"]
REFERENCES_MAX = 10

ACK = """Hello,

we have received your message and opened ticket {number}: {title}

To add anything, reply to this e-mail and keep [{number}] in the subject; we will write to you here as the
ticket moves on.

— The IT service desk"""

REJECT = """Hello,

this mailbox only takes requests from people of our organisation, and we could not find your address among
them, so your message was not processed. If you work with us, please write from your work address, or
contact the IT service desk another way.

— The IT service desk"""

FOOTER = "\n\n—\nReply to this e-mail to add a comment to {number}; keep [{number}] in the subject."


def subject_for(ticket: dict[str, Any]) -> str:
    return f"[{ticket['number']}] {ticket['title']}"


async def _send(settings: Settings, *, to: str, subject: str, body: str, delivery_key: str,
                headers: dict[str, str]) -> str:
    try:
        return await SmtpClient(settings.smtp).send(to=to, subject=subject, body=body, delivery_key=delivery_key,
                                                    headers=headers)
    except SmtpError as exc:
        raise ChannelDeliveryFailed(f"The e-mail to {to} was not sent: {exc.detail}",
                                    permanent=exc.permanent) from exc


def _reply_to(address: str | None) -> dict[str, str]:
    return {"Reply-To": address} if address else {}


async def answer(conn: Conn, settings: Settings, *, message_row: int, kind: Answer) -> str | None:
    """Answers the inbound message ``message_row`` (an acknowledgement or a rejection) once; returns the answer's
    Message-ID (None when there is nobody to answer)."""
    row = await (await conn.execute(Q.inbound_message, {"id": message_row})).fetchone()
    if row is None or not row["address"]:
        return None
    delivery_key = f"deskmate-mail-{message_row}-{kind}"
    message_id = SmtpClient(settings.smtp).message_id(delivery_key)
    if await (await conn.execute(Q.sent_exists, {"message_id": message_id})).fetchone():
        return message_id  # sent before the job could finish: not twice
    subject = f"Re: {row['subject'] or ''}".strip()
    body = REJECT
    if kind == "ack":
        ticket = await (await conn.execute(Q.ticket_for_mail, {"id": row["ticket_id"]})).fetchone()
        if ticket is None:
            return None
        subject, body = subject_for(ticket), ACK.format(number=ticket["number"], title=ticket["title"])
    headers = {"In-Reply-To": row["message_id"], "References": row["message_id"], "Auto-Submitted": "auto-replied",
               **_reply_to(row["mailbox_address"])}
    sent = await _send(settings, to=row["address"], subject=subject, body=body, delivery_key=delivery_key,
                       headers=headers)
    await conn.execute(Q.record_outbound, {"mailbox_id": row["mailbox_id"], "message_id": sent,
                                           "ticket_id": row["ticket_id"] if kind == "ack" else None,
                                           "address": row["address"], "subject": subject})
    return sent


def references(thread: list[str]) -> list[str]:
    """The References of a new message on ``thread`` (oldest first): its first message and the latest ones."""
    if len(thread) <= REFERENCES_MAX:
        return thread
    return [thread[0], *thread[-(REFERENCES_MAX - 1):]]


async def notify(conn: Conn, settings: Settings, *, ticket: dict[str, Any], conversation: dict[str, Any] | None,
                 text: str, buttons: Sequence[Button] = ()) -> None:
    """Tells the requester of an e-mail ticket about it (``conversation`` is None: the ticket came by mail). A mail
    has no buttons: ``buttons`` are not sent (a choice by mail is a link in ``text``, like the CSAT survey's)."""
    t = await (await conn.execute(Q.ticket_for_mail, {"id": ticket["id"]})).fetchone()
    if t is None:
        raise NotFound(f"No ticket {ticket['id']}.")
    thread = await (await conn.execute(Q.thread, {"ticket_id": t["id"]})).fetchall()
    refs = references([r["message_id"] for r in thread])
    mailbox_id = next((r["mailbox_id"] for r in thread if r["mailbox_id"] is not None), None)
    address = None
    if mailbox_id is not None:
        found = await (await conn.execute(Q.mailbox_address, {"id": mailbox_id})).fetchone()
        address = found["address"] if found else None
    headers = _reply_to(address)
    if refs:
        headers |= {"In-Reply-To": refs[-1], "References": " ".join(refs)}
    subject = subject_for(t)
    sent = await _send(settings, to=t["requester_email"], subject=subject,
                       body=text + FOOTER.format(number=t["number"]),
                       delivery_key=f"deskmate-ticket-{t['id']}-{uuid.uuid4().hex}", headers=headers)
    await conn.execute(Q.record_outbound, {"mailbox_id": mailbox_id, "message_id": sent, "ticket_id": t["id"],
                                           "address": t["requester_email"], "subject": subject})
