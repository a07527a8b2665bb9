"""Helpers of the e-mail channel's tests: corpus messages, a mailbox on the test Dovecot, the queued answers."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fakes.dovecot import Dovecot
from pydantic import SecretStr

from api.auth.models import Principal, Role
from api.channels.email import outbound, service
from api.channels.email.models import MailboxIn
from api.settings import Settings

CORPUS = Path(__file__).parent / "corpus"
ADMIN = Principal(id=0, email="admin@localhost", name="test admin", role=Role.admin)


def corpus(name: str, *, sender: str) -> bytes:
    """A corpus message with ``{alice}`` replaced by ``sender``."""
    return (CORPUS / name).read_bytes().replace(b"{alice}", sender.encode())


def message(*, sender: str, subject: str, body: str, message_id: str | None = None,
            headers: dict[str, str] | None = None) -> tuple[bytes, str]:
    """A plain text message and its Message-ID."""
    message_id = message_id or f"<{uuid.uuid4().hex}@mail.example.com>"
    lines = [f"From: {sender}", "To: helpdesk@deskmate.test", f"Subject: {subject}", f"Message-ID: {message_id}",
             "MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8",
             *(f"{k}: {v}" for k, v in (headers or {}).items()), "", body]
    return "\r\n".join(lines).encode(), message_id


@dataclass
class DeskMailbox:
    id: int
    user: str
    password: str
    server: Dovecot

    def append(self, raw: bytes, *, folder: str = "INBOX") -> None:
        self.server.append(self.user, self.password, raw, folder=folder)

    def state(self, folder: str = "INBOX") -> list[tuple[int, bool]]:
        return self.server.folder_state(self.user, self.password, folder)


async def make_mailbox(conn: Any, settings: Settings, server: Dovecot, **fields: Any) -> DeskMailbox:
    """A fresh IMAP account and its mailbox row."""
    user, password = server.add_user()
    data = MailboxIn(name=f"desk-{uuid.uuid4().hex[:8]}", host=server.host, port=server.port, tls="none",
                     username=user, password=SecretStr(password), **fields)
    created, _ = await service.create(conn, settings, principal=ADMIN, data=data)
    return DeskMailbox(id=created.id, user=user, password=password, server=server)


async def messages(conn: Any, mailbox_id: int) -> list[dict[str, Any]]:
    """The mailbox's email_messages rows, oldest first."""
    cur = await conn.execute("SELECT * FROM email_messages WHERE mailbox_id = %s ORDER BY id", (mailbox_id,))
    return list(await cur.fetchall())


async def send_answers(conn: Any, settings: Settings, mailbox_id: int) -> list[str]:
    """Runs the queued answers (email.answer jobs) to this mailbox's messages, as the worker would, then removes
    the jobs; returns the kinds answered, in order."""
    cur = await conn.execute(
        "SELECT j.id, j.args FROM procrastinate_jobs j JOIN email_messages e ON e.id = (j.args->>'message_row')::bigint "
        "WHERE j.task_name = 'email.answer' AND j.status = 'todo' AND e.mailbox_id = %s ORDER BY j.id", (mailbox_id,))
    kinds = []
    for job in await cur.fetchall():
        await outbound.answer(conn, settings, message_row=job["args"]["message_row"], kind=job["args"]["kind"])
        await conn.execute("DELETE FROM procrastinate_jobs WHERE id = %s", (job["id"],))
        kinds.append(job["args"]["kind"])
    return kinds
