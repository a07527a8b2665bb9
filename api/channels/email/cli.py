"""``deskmate mailboxes list|add|test|poll``: the e-mail channel's mailboxes from the command line."""

from __future__ import annotations

from typing import Annotated

import typer
from pydantic import SecretStr, ValidationError

from api import db
from api.auth.models import Principal, Role
from api.channels.email import ingest, service
from api.channels.email.models import MailboxIn
from api.cli_helpers import fail, with_conn
from api.settings import get_settings

mailboxes_app = typer.Typer(help="E-mail channel mailboxes (docs/channels.md#e-mail).", no_args_is_help=True)
# The CLI acts as the operator: an admin without an account (idempotency keys are not used here).
OPERATOR = Principal(id=0, email="operator@localhost", name="deskmate CLI", role=Role.admin)


@mailboxes_app.command("list")
def list_() -> None:
    """List the mailboxes: where they read, their cursor and the last error (never a password)."""
    for m in with_conn(get_settings(), lambda conn: service.list_mailboxes(conn)):
        state = "enabled" if m.enabled else "disabled"
        typer.echo(f"{m.id:>4}  {m.name:<20} {state:<8} {m.username}@{m.host}:{m.port} ({m.tls}) {m.folder} "
                   f"-> {m.processed_folder or '(flag seen)'}  unknown senders: {m.unknown_sender}  "
                   f"last uid {m.last_uid}  {m.last_error or ''}")


@mailboxes_app.command("add")
def add(
    name: Annotated[str, typer.Option(help="a name for the mailbox")],
    host: Annotated[str, typer.Option(help="the IMAP server")],
    username: Annotated[str, typer.Option(help="the IMAP login")],
    port: Annotated[int, typer.Option()] = 993,
    tls: Annotated[str, typer.Option(help="ssl, starttls or none")] = "ssl",
    address: Annotated[str | None, typer.Option(help="the address people write to (Reply-To)")] = None,
    folder: Annotated[str, typer.Option()] = "INBOX",
    processed_folder: Annotated[str | None, typer.Option(help="move processed mail here (default: flag it seen)")]
    = None,
    unknown_sender: Annotated[str, typer.Option(help="create_contact or reject")] = "reject",
) -> None:
    """Add a mailbox; the password is asked for (never an option, so it stays out of the shell's history)."""
    password = typer.prompt("IMAP password", hide_input=True)
    try:
        data = MailboxIn(name=name, host=host, port=port, tls=tls, username=username,  # type: ignore[arg-type]
                         password=SecretStr(password), address=address, folder=folder,
                         processed_folder=processed_folder, unknown_sender=unknown_sender)  # type: ignore[arg-type]
    except ValidationError as exc:
        fail("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()))
    settings = get_settings()

    async def work(conn: db.Conn) -> int:
        mailbox, _ = await service.create(conn, settings, principal=OPERATOR, data=data)
        return mailbox.id

    typer.echo(f"mailbox {with_conn(settings, work)} added; check it with: deskmate mailboxes test {name}")


@mailboxes_app.command("test")
def test(mailbox: Annotated[str, typer.Argument(help="the mailbox's id or name")]) -> None:
    """Log in and open the folder: how many messages it holds, or what failed (exit 1)."""
    settings = get_settings()

    async def work(conn: db.Conn) -> tuple[str, bool, str]:
        found = await _find(conn, mailbox)
        result = await service.test(conn, settings, mailbox_id=found)
        return mailbox, result.ok, f"{result.messages} messages" if result.ok else str(result.error)

    name, ok, text = with_conn(settings, work)
    if not ok:
        fail(f"{name}: {text}")
    typer.echo(f"{name}: ok, {text}")


@mailboxes_app.command("poll")
def poll(mailbox: Annotated[str | None, typer.Argument(help="one mailbox's id or name (default: every enabled one)")]
         = None) -> None:
    """Read new mail now, once (the worker does this every minute)."""
    settings = get_settings()

    async def work(conn: db.Conn) -> list[ingest.PollResult]:
        if mailbox is None:
            return await ingest.poll_all(conn, settings)
        return [await ingest.poll_mailbox(conn, settings, mailbox_id=await _find(conn, mailbox))]

    results = with_conn(settings, work)
    for r in results:
        outcomes = ", ".join(f"{k} {v}" for k, v in sorted(r.outcomes.items())) or "nothing new"
        typer.echo(f"{r.mailbox}: {outcomes}" + (f"; error: {r.error}" if r.error else ""))
    if any(r.error for r in results):
        raise typer.Exit(1)


async def _find(conn: db.Conn, ref: str) -> int:
    for m in await service.list_mailboxes(conn):
        if str(m.id) == ref or m.name == ref:
            return m.id
    fail(f"no mailbox {ref!r} (deskmate mailboxes list)")
