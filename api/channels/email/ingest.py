"""Reading mailboxes: each new message becomes a ticket, a comment on its ticket, or a record of why not.

Exactly once. One transaction per message records its Message-ID (unique per mailbox), makes the ticket or the
comment, queues the answer (a job) and moves the mailbox's UID cursor past it. A worker killed mid-batch leaves
the cursor at the last message fully taken; the next poll reads the rest. When the folder's UIDVALIDITY changes
(the server renumbered it) the cursor starts again from 0 and the Message-IDs already recorded are skipped.
Processed messages are moved to the mailbox's ``processed_folder`` (or flagged \\Seen) after their commits.

Threading: a message whose In-Reply-To / References name a message of a ticket's thread (one we read or sent), or
whose subject carries a ticket's tag (``[INC-000123]``), is a reply: a public comment by the sender when the
sender may comment (the requester, or the service desk). Otherwise it opens a ticket (source EMAIL, the
Message-ID as source_reference) for the sender; a sender no user has is handled by the mailbox's policy.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import psycopg
from pydantic import ValidationError

from api import jobs, sql
from api.auth import service as people
from api.auth.models import Principal, Role, UserCreate
from api.channels.email import parse as mail
from api.channels.email import service as mailboxes
from api.channels.email.imap import Fetched, ImapClient
from api.db import Conn
from api.errors import Conflict, DeskmateError, Forbidden, NotFound
from api.settings import Settings
from api.tickets import service as tickets
from api.tickets.models import CommentCreate, SourceType, TicketCreate

Q = sql.load("api.channels.email")
log = logging.getLogger(__name__)


@dataclass
class Taken:
    outcome: str  # ticket, comment, ignored, rejected, duplicate
    reason: str | None = None
    ticket_id: int | None = None


@dataclass
class PollResult:
    mailbox: str
    outcomes: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    busy: bool = False  # another poll (or IDLE reader) was reading the mailbox: nothing was read


async def _requester(conn: Conn, mailbox: dict[str, Any], parsed: mail.ParsedMail) -> Principal | None:
    """The sender as a user (a new employee contact when the mailbox's policy says so); None: rejected."""
    user = await people.get_by_email(conn, email=parsed.sender)
    if user is None and mailbox["unknown_sender"] == "create_contact":
        try:
            data = UserCreate(email=parsed.sender, role=Role.employee,
                              name=(parsed.sender_name or parsed.sender.split("@")[0])[:200])
        except ValidationError:
            return None
        try:
            user = await people.create_user(conn, data=data)
        except Conflict:  # created meanwhile by someone else
            user = await people.get_by_email(conn, email=parsed.sender)
    if user is None:
        return None
    try:
        return await people.principal_by_id(conn, user_id=user.id)
    except Forbidden:  # deactivated
        return None


async def _thread_ticket(conn: Conn, parsed: mail.ParsedMail) -> int | None:
    if parsed.references:
        row = await (await conn.execute(Q.ticket_by_references, {"refs": parsed.references})).fetchone()
        if row is not None:
            return int(row["ticket_id"])
    if parsed.tag:
        row = await (await conn.execute(Q.ticket_id_by_number, {"number": parsed.tag})).fetchone()
        if row is not None:
            return int(row["id"])
    return None


def _extras(parsed: mail.ParsedMail) -> str:
    """The notes and the attachment list that follow a message's text on the ticket."""
    lines = [f"[{note}]" for note in parsed.notes]
    if parsed.attachments:
        lines.append("Attachments: " + ", ".join(
            f"{a.filename} ({a.content_type}, {a.size} bytes{'' if a.content is not None else ', not kept'})"
            for a in parsed.attachments))
    return "\n".join(lines)


def _with_extras(text: str, parsed: mail.ParsedMail) -> str:
    extras = _extras(parsed)
    return mail.clip("\n\n".join(part for part in (text, extras) if part) or "(no text)")


async def _keep_attachments(conn: Conn, parsed: mail.ParsedMail, *, message_row: int, ticket_id: int) -> None:
    for a in parsed.attachments:
        if a.content is not None:
            await conn.execute(Q.add_attachment, {"email_message_id": message_row, "ticket_id": ticket_id,
                                                  "filename": a.filename, "content_type": a.content_type,
                                                  "size": a.size, "content": a.content})


async def _queue_answer(conn: Conn, *, message_row: int, kind: str) -> None:
    await jobs.defer(conn, "email.answer", queue="email", message_row=message_row, kind=kind)


async def _take(conn: Conn, settings: Settings, mailbox: dict[str, Any], parsed: mail.ParsedMail,
                message_row: int) -> Taken:
    if parsed.ignore_reason:
        return Taken("ignored", parsed.ignore_reason)
    ours = {settings.smtp.sender.lower(), (mailbox["address"] or "").lower()}
    if not parsed.sender or parsed.sender in ours:
        return Taken("ignored", "no sender address" if not parsed.sender else "sent by deskmate itself")
    principal = await _requester(conn, mailbox, parsed)
    if principal is None:
        await _queue_answer(conn, message_row=message_row, kind="reject")
        return Taken("rejected", "unknown sender")
    ticket_id = await _thread_ticket(conn, parsed)
    if ticket_id is not None:
        try:
            await tickets.add_comment(conn, principal=principal, ref=ticket_id,
                                      data=CommentCreate(body=_with_extras(mail.reply_text(parsed), parsed)))
        except (Forbidden, NotFound):
            return Taken("rejected", f"{parsed.sender} may not comment on ticket {ticket_id}")
        await _keep_attachments(conn, parsed, message_row=message_row, ticket_id=ticket_id)
        return Taken("comment", None, ticket_id)
    ticket, _ = await tickets.create(conn, principal=principal, data=TicketCreate(
        title=parsed.title, description=_with_extras(parsed.text, parsed), source_type=SourceType.EMAIL,
        source_reference=parsed.message_id[:255],
        integration_metadata={"email": {"mailbox": mailbox["name"], "from": parsed.sender}}))
    await _keep_attachments(conn, parsed, message_row=message_row, ticket_id=ticket.id)
    if settings.email.acknowledge:
        await _queue_answer(conn, message_row=message_row, kind="ack")
    return Taken("ticket", None, ticket.id)


async def ingest(conn: Conn, settings: Settings, *, mailbox: dict[str, Any], uidvalidity: int,
                 fetched: Fetched) -> Taken:
    """Takes one fetched message, exactly once, and moves the mailbox's cursor past it (one transaction)."""
    parsed = mail.parse(fetched.raw, limits=settings.email, oversized=fetched.size if fetched.header_only else None)
    async with conn.transaction():
        claimed = await (await conn.execute(Q.claim_message, {
            "mailbox_id": mailbox["id"], "message_id": parsed.message_id, "direction": "in", "uid": fetched.uid,
            "address": parsed.sender or None, "subject": parsed.subject[:1000]})).fetchone()
        if claimed is None:
            taken = Taken("duplicate")
        else:
            taken = await _take(conn, settings, mailbox, parsed, claimed["id"])
            await conn.execute(Q.set_outcome, {"id": claimed["id"], "outcome": taken.outcome,
                                               "reason": taken.reason, "ticket_id": taken.ticket_id})
        await conn.execute(Q.advance_cursor, {"id": mailbox["id"], "uidvalidity": uidvalidity, "uid": fetched.uid})
    log.info("e-mail taken", extra={"mailbox": mailbox["name"], "uid": fetched.uid, "outcome": taken.outcome,
                                    "ticket_id": taken.ticket_id})
    return taken


async def _ingest_or_record(conn: Conn, settings: Settings, *, mailbox: dict[str, Any], uidvalidity: int,
                            fetched: Fetched) -> Taken:
    """``ingest``; a message that fails for a reason other than the database being away is recorded as 'failed'
    with the error, and the cursor moves past it, so one poisonous message never stops the mailbox."""
    try:
        return await ingest(conn, settings, mailbox=mailbox, uidvalidity=uidvalidity, fetched=fetched)
    except psycopg.OperationalError:
        raise
    except Exception as exc:
        log.exception("e-mail could not be taken", extra={"mailbox": mailbox["name"], "uid": fetched.uid})
        reason = f"{type(exc).__name__}: {str(getattr(exc, 'detail', exc))[:300]}"
        message_id = f"<failed-{uidvalidity}-{fetched.uid}@mailbox-{mailbox['id']}.deskmate.invalid>"
        async with conn.transaction():
            row = await (await conn.execute(Q.claim_message, {
                "mailbox_id": mailbox["id"], "message_id": message_id, "direction": "in", "uid": fetched.uid,
                "address": None, "subject": None})).fetchone()
            if row is not None:
                await conn.execute(Q.set_outcome, {"id": row["id"], "outcome": "failed", "reason": reason,
                                                   "ticket_id": None})
            await conn.execute(Q.advance_cursor, {"id": mailbox["id"], "uidvalidity": uidvalidity,
                                                  "uid": fetched.uid})
        return Taken("failed", reason)


async def _read(conn: Conn, settings: Settings, mailbox: dict[str, Any], result: PollResult) -> None:
    async with ImapClient(mailboxes.imap_config(settings, mailbox)) as imap:
        uidvalidity = await imap.uidvalidity()
        if mailbox["uidvalidity"] != uidvalidity:
            await conn.execute(Q.reset_cursor, {"id": mailbox["id"], "uidvalidity": uidvalidity})
            mailbox = mailbox | {"uidvalidity": uidvalidity, "last_uid": 0}
        sizes = await imap.sizes_after(mailbox["last_uid"], limit=settings.email.poll_batch)
        done: list[int] = []
        for uid, size in sizes.items():
            fetched = await imap.fetch(uid, size=size, max_bytes=settings.email.max_message_bytes)
            if fetched is not None:
                taken = await _ingest_or_record(conn, settings, mailbox=mailbox, uidvalidity=uidvalidity,
                                                fetched=fetched)
                result.outcomes[taken.outcome] = result.outcomes.get(taken.outcome, 0) + 1
                done.append(uid)
        await imap.finish(done, move_to=mailbox["processed_folder"])


async def poll_mailbox(conn: Conn, settings: Settings, *, mailbox_id: int) -> PollResult:
    """Reads one mailbox's new messages (at most DESKMATE_EMAIL_POLL_BATCH); the error, if any, is recorded on
    the mailbox and returned, not raised. ``conn`` must be in autocommit mode (one transaction per message)."""
    mailbox = dict(await mailboxes.get_row_or_raise(conn, mailbox_id))
    result = PollResult(mailbox=mailbox["name"])
    if not (await (await conn.execute(Q.try_lock_mailbox, {"id": mailbox_id})).fetchone() or {}).get("locked"):
        result.error, result.busy = "busy: another poll is reading this mailbox", True
        return result
    try:
        await _read(conn, settings, mailbox, result)
    except DeskmateError as exc:
        result.error = exc.detail
        log.warning("mailbox poll failed", extra={"mailbox": mailbox["name"], "error": exc.detail})
    finally:
        await conn.execute(Q.unlock_mailbox, {"id": mailbox_id})
    await conn.execute(Q.record_poll, {"id": mailbox_id, "error": result.error})
    return result


async def poll_all(conn: Conn, settings: Settings) -> list[PollResult]:
    """Reads every enabled mailbox in turn; one failing mailbox does not stop the others."""
    return [await poll_mailbox(conn, settings, mailbox_id=m.id)
            for m in await mailboxes.list_mailboxes(conn, enabled_only=True)]

