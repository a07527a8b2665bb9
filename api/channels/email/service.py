"""Mailboxes: create, read, update, delete, test. The IMAP password is stored as a Fernet token (api/crypto.py)
and leaves this module only inside an :class:`ImapConfig`, for the IMAP client."""

from __future__ import annotations

from typing import Any

from psycopg.errors import UniqueViolation
from pydantic import SecretStr

from api import crypto, idempotency, sql
from api.auth.models import Principal
from api.channels.email.imap import ImapClient, ImapConfig
from api.channels.email.models import Mailbox, MailboxIn, MailboxPatch, MailboxTest
from api.db import Conn
from api.errors import Conflict, ImapError, NotFound
from api.settings import Settings

Q = sql.load("api.channels.email")
CREATE_SCOPE = "mailboxes.create"
# Changing one of these points the cursor at another folder: it starts again (Message-IDs prevent duplicates).
_WHERE = ("host", "port", "username", "folder")


def _public(row: dict[str, Any]) -> Mailbox:
    return Mailbox(**{k: v for k, v in row.items() if k != "password_encrypted"})


async def get_row_or_raise(conn: Conn, mailbox_id: int, *, lock: bool = False) -> dict[str, Any]:
    """The mailbox's row, password token included: for this package only, never for an answer."""
    row = await (await conn.execute(Q.lock_mailbox if lock else Q.get_mailbox, {"id": mailbox_id})).fetchone()
    if row is None:
        raise NotFound(f"No mailbox {mailbox_id}.")
    return dict(row)


async def create(conn: Conn, settings: Settings, *, principal: Principal, data: MailboxIn,
                 idempotency_key: str | None = None) -> tuple[Mailbox, bool]:
    """Saves a mailbox; returns it and whether it is new (False: the replay of an idempotent request)."""
    async with conn.transaction():
        if idempotency_key:
            earlier = await idempotency.claim(conn, user_id=principal.id, scope=CREATE_SCOPE, key=idempotency_key,
                                              payload=data.model_dump(mode="json"))  # the password shows as ****
            if earlier is not None:
                return await get_or_raise(conn, mailbox_id=earlier), False
        params = data.model_dump(exclude={"password"}) | {
            "password_encrypted": crypto.encrypt(settings, data.password.get_secret_value())}
        try:
            row = await (await conn.execute(Q.create_mailbox, params)).fetchone()
        except UniqueViolation as exc:
            raise Conflict(f"A mailbox named {data.name!r} already exists.") from exc
        assert row is not None
        if idempotency_key:
            await idempotency.record(conn, user_id=principal.id, scope=CREATE_SCOPE, key=idempotency_key,
                                     resource_id=row["id"])
    return _public(row), True


async def get_or_raise(conn: Conn, *, mailbox_id: int) -> Mailbox:
    return _public(await get_row_or_raise(conn, mailbox_id))


async def list_rows(conn: Conn, *, enabled_only: bool = False) -> list[dict[str, Any]]:
    """The mailboxes' rows, password tokens included: for this package only, never for an answer."""
    return [dict(r) for r in await (await conn.execute(Q.list_mailboxes, {"enabled_only": enabled_only})).fetchall()]


async def list_mailboxes(conn: Conn, *, enabled_only: bool = False) -> list[Mailbox]:
    return [_public(r) for r in await list_rows(conn, enabled_only=enabled_only)]


async def update(conn: Conn, settings: Settings, *, mailbox_id: int, data: MailboxPatch) -> Mailbox:
    """Changes the fields ``data`` sets; a new host, user or folder starts the cursor again."""
    fields = data.model_dump(exclude_unset=True, exclude={"password"})
    async with conn.transaction():
        row = await get_row_or_raise(conn, mailbox_id, lock=True)
        after = row | fields
        if data.password is not None:
            after["password_encrypted"] = crypto.encrypt(settings, data.password.get_secret_value())
        if any(after[k] != row[k] for k in _WHERE):
            after |= {"uidvalidity": None, "last_uid": 0}
        try:
            saved = await (await conn.execute(Q.update_mailbox, after)).fetchone()
        except UniqueViolation as exc:
            raise Conflict(f"A mailbox named {after['name']!r} already exists.") from exc
    assert saved is not None
    return _public(saved)


async def delete(conn: Conn, *, mailbox_id: int) -> None:
    if await (await conn.execute(Q.delete_mailbox, {"id": mailbox_id})).fetchone() is None:
        raise NotFound(f"No mailbox {mailbox_id}.")


def imap_config(settings: Settings, row: dict[str, Any]) -> ImapConfig:
    """How to reach the mailbox of ``row`` (a mailboxes row), the password decrypted."""
    return ImapConfig(host=row["host"], port=row["port"], tls=row["tls"], username=row["username"],
                      password=SecretStr(crypto.decrypt(settings, row["password_encrypted"])), folder=row["folder"],
                      timeout_s=settings.email.imap_timeout_s)


async def test(conn: Conn, settings: Settings, *, mailbox_id: int) -> MailboxTest:
    """Logs in and opens the folder; says how many messages it holds, or what failed."""
    row = await get_row_or_raise(conn, mailbox_id)
    try:
        async with ImapClient(imap_config(settings, row)) as imap:
            return MailboxTest(ok=True, messages=await imap.count())
    except ImapError as exc:
        return MailboxTest(ok=False, error=exc.detail)
