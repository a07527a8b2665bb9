"""Mailbox endpoints (admins only), and the attachments a ticket's mail brought (whoever may see the ticket)."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from api.auth.deps import AdminUser, CurrentUser
from api.channels.email import attachments, service
from api.channels.email.models import Attachment, Mailbox, MailboxIn, MailboxPatch, MailboxTest
from api.db import ConnDep
from api.deps import IdempotencyKey, SettingsDep

router = APIRouter(prefix="/mailboxes", tags=["e-mail"])
ticket_files = APIRouter(prefix="/tickets", tags=["e-mail"])


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_mailbox(data: MailboxIn, conn: ConnDep, principal: AdminUser, settings: SettingsDep,
                         response: Response, idempotency_key: IdempotencyKey = None) -> Mailbox:
    """Adds a mailbox to read; the password is encrypted at rest and never returned."""
    mailbox, created = await service.create(conn, settings, principal=principal, data=data,
                                            idempotency_key=idempotency_key)
    response.headers["Location"] = f"/api/v1/mailboxes/{mailbox.id}"
    if not created:
        response.headers["Idempotent-Replayed"] = "true"
    return mailbox


@router.get("")
async def list_mailboxes(conn: ConnDep, _: AdminUser) -> list[Mailbox]:
    return await service.list_mailboxes(conn)


@router.get("/{mailbox_id}")
async def get_mailbox(mailbox_id: int, conn: ConnDep, _: AdminUser) -> Mailbox:
    return await service.get_or_raise(conn, mailbox_id=mailbox_id)


@router.patch("/{mailbox_id}")
async def update_mailbox(mailbox_id: int, data: MailboxPatch, conn: ConnDep, _: AdminUser,
                         settings: SettingsDep) -> Mailbox:
    """Changes the fields sent; a new host, user or folder starts reading that folder from its beginning."""
    return await service.update(conn, settings, mailbox_id=mailbox_id, data=data)


@router.delete("/{mailbox_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_mailbox(mailbox_id: int, conn: ConnDep, _: AdminUser) -> None:
    """Removes the mailbox; the tickets and the record of its messages stay (replies still thread)."""
    await service.delete(conn, mailbox_id=mailbox_id)


@router.post("/{mailbox_id}/test")
async def test_mailbox(mailbox_id: int, conn: ConnDep, _: AdminUser, settings: SettingsDep) -> MailboxTest:
    """Logs in and opens the folder: how many messages it holds, or what failed."""
    return await service.test(conn, settings, mailbox_id=mailbox_id)


@ticket_files.get("/{ref}/attachments")
async def list_attachments(ref: str, conn: ConnDep, principal: CurrentUser) -> list[Attachment]:
    """The files the ticket's e-mails brought (what was kept), oldest first."""
    return await attachments.list_for_ticket(conn, principal=principal, ref=ref)


@ticket_files.get("/{ref}/attachments/{attachment_id}")
async def get_attachment(ref: str, attachment_id: int, conn: ConnDep, principal: CurrentUser) -> Response:
    """One attachment's bytes, always as a download."""
    found = await attachments.get(conn, principal=principal, ref=ref, attachment_id=attachment_id)
    return Response(found.content, media_type="application/octet-stream",
                    headers={"Content-Disposition": attachments.disposition(found.filename),
                             "X-Content-Type-Options": "nosniff"})
