"""The demo desk mailbox `deskmate run` starts (api/dev/imap.py): a real Dovecot under the data dir with one account,
saved as the `demo-helpdesk` mailbox through the e-mail channel's service, fed by the demo SMTP server
(api/dev/mailbox.py) and read by the channel's poll like any mailbox."""

from __future__ import annotations

import logging
import shutil
import smtplib
import socket
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from email.message import EmailMessage
from pathlib import Path

import psycopg
import pytest
from fakes.slapd_server import free_port
from fakes.waiting import wait_until
from imap_tools import MailBoxUnencrypted
from imap_tools.errors import MailboxLoginError
from pydantic import SecretStr

from api import crypto
from api.channels.email import ingest, outbound
from api.channels.email import service as mailboxes
from api.channels.email.cli import OPERATOR
from api.channels.email.models import MailboxIn
from api.dev import imap, mailbox
from api.integrations.smtp.settings import SmtpSettings
from api.settings import Settings

SENDER = "casey.demo-imap@example.net"  # nobody of the demo org: the mailbox's policy makes a contact


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A data dir Dovecot's unprivileged user can reach (pytest's own tmp dirs are closed to it)."""
    if shutil.which("dovecot") is None:
        raise RuntimeError("dovecot is not installed: `make debs` installs Debian's dovecot-imapd")
    path = Path(tempfile.mkdtemp(prefix="deskmate-demo-imap-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def demo_settings(settings: Settings, data_dir: Path) -> Settings:
    return settings.model_copy(update={"data_dir": data_dir, "demo_imap_port": free_port(),
                                       "demo_smtp_port": free_port(), "smtp": SmtpSettings(_env_file=None)})


@pytest.fixture
async def _no_demo_row(conn: psycopg.AsyncConnection) -> AsyncIterator[None]:
    """The shared test database keeps no demo-helpdesk row (other tests' workers would poll it)."""
    await conn.execute("DELETE FROM mailboxes WHERE name = %s", (imap.MAILBOX_NAME,))
    yield
    await conn.execute("DELETE FROM mailboxes WHERE name = %s", (imap.MAILBOX_NAME,))


@pytest.fixture
def desk(demo_settings: Settings) -> Iterator[imap.DemoImap]:
    started = imap.start(demo_settings)
    assert started is not None
    yield started
    started.stop()


@pytest.fixture
def smtp_lines(demo_settings: Settings, desk: imap.DemoImap) -> Iterator[list[str]]:
    """The demo SMTP server, delivering mail to the desk into Dovecot; the lines it prints."""
    lines: list[str] = []
    box = mailbox.start(demo_settings, echo=lines.append, local={desk.address: desk.deliver})
    assert box is not None
    yield lines
    box.stop()


def _login(port: int, password: str) -> MailBoxUnencrypted:
    return MailBoxUnencrypted("127.0.0.1", port, timeout=30).login(imap.ADDRESS, password)


def _inbox_subjects(port: int, password: str) -> list[str]:
    with _login(port, password) as box:
        return [m.subject for m in box.fetch(mark_seen=False, headers_only=True)]


def _send(port: int, *, to: str, subject: str, body: str) -> None:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = SENDER, to, subject
    message.set_content(body)
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.send_message(message)


async def _mailbox_rows(conn: psycopg.AsyncConnection) -> list[dict]:
    cur = await conn.execute("SELECT * FROM mailboxes WHERE name = %s", (imap.MAILBOX_NAME,))
    return list(await cur.fetchall())


async def test_the_demo_dovecot_takes_the_seeded_login_and_a_second_start_reuses_it(
        conn, demo_settings, _no_demo_row):
    first = imap.start(demo_settings)
    assert first is not None
    try:
        seeded = await imap.seed(conn, demo_settings, imap=first)
        password = (demo_settings.data_dir / "imap" / "helpdesk.secret").read_text().strip()
        with _login(first.port, password) as box:
            assert box.folder.get() == "INBOX"
        first.deliver(b"From: someone@example.net\r\nSubject: kept across restarts\r\n\r\nhello\r\n")
        with pytest.raises(MailboxLoginError):
            _login(first.port, "not-the-password")
    finally:
        first.stop()
    assert first.process.poll() is not None and not first.run_dir.exists()

    second = imap.start(demo_settings)
    assert second is not None
    try:
        again = await imap.seed(conn, demo_settings, imap=second)
        assert _inbox_subjects(second.port, password) == ["kept across restarts"]
    finally:
        second.stop()

    [row] = await _mailbox_rows(conn)
    assert again.id == seeded.id == row["id"] and row["enabled"] and row["unknown_sender"] == "create_contact"
    assert (row["host"], row["port"], row["tls"], row["username"], row["address"]) == (
        "127.0.0.1", demo_settings.demo_imap_port, "none", imap.ADDRESS, imap.ADDRESS)
    assert crypto.decrypt(demo_settings, row["password_encrypted"]) == password != row["password_encrypted"]
    assert password not in "\n".join(imap.summary(second, smtp_port=demo_settings.demo_smtp_port))
    users = demo_settings.data_dir / "imap" / "users"
    assert oct(users.stat().st_mode & 0o777) == "0o600"


def test_mail_to_the_desk_reaches_its_inbox_and_other_mail_only_the_terminal(demo_settings, desk, smtp_lines):
    _send(demo_settings.demo_smtp_port, to=imap.ADDRESS, subject="VPN drops", body="Every ten minutes.")
    _send(demo_settings.demo_smtp_port, to="someone.else@example.com", subject="Not for the desk", body="-")

    wait_until(lambda: len(smtp_lines) == 2, 30, "both messages to be printed")
    assert _inbox_subjects(desk.port, desk.password.get_secret_value()) == ["VPN drops"]
    assert smtp_lines[0].startswith(f"to {imap.ADDRESS}: VPN drops") and "delivered to the" in smtp_lines[0]
    assert "delivered" not in smtp_lines[1]
    assert len(list((demo_settings.data_dir / "mail").glob("*.eml"))) == 2  # both kept, as before


async def test_mail_to_the_desk_becomes_a_ticket_for_its_sender_and_the_acknowledgement_is_printed(
        conn, demo_settings, desk, smtp_lines, _no_demo_row):
    demo_box = await imap.seed(conn, demo_settings, imap=desk)
    _send(demo_settings.demo_smtp_port, to=imap.ADDRESS, subject="Printer on floor 2 is jammed",
          body="Paper jam in tray 2 since this morning.")
    wait_until(lambda: smtp_lines, 30, "the demo SMTP server to take the message")

    result = await ingest.poll_mailbox(conn, demo_settings, mailbox_id=demo_box.id)  # what the worker's poll runs

    assert result.error is None and result.outcomes == {"ticket": 1}, result
    ticket = await (await conn.execute(
        "SELECT t.*, u.email AS requester FROM tickets t JOIN users u ON u.id = t.requester_id "
        "WHERE t.integration_metadata->'email'->>'mailbox' = %s ORDER BY t.id DESC LIMIT 1",
        (imap.MAILBOX_NAME,))).fetchone()
    assert ticket["requester"] == SENDER and ticket["title"] == "Printer on floor 2 is jammed"
    assert "Paper jam in tray 2" in ticket["description"] and ticket["source_type"] == "EMAIL"

    wired = demo_settings.model_copy(update={"smtp": SmtpSettings(  # what `deskmate run` gives the worker
        host="127.0.0.1", port=demo_settings.demo_smtp_port, tls="none", _env_file=None)})
    job = await (await conn.execute(
        "SELECT j.id, j.args FROM procrastinate_jobs j JOIN email_messages e ON e.id = (j.args->>'message_row')::bigint "
        "WHERE j.task_name = 'email.answer' AND e.mailbox_id = %s", (demo_box.id,))).fetchone()
    await outbound.answer(conn, wired, message_row=job["args"]["message_row"], kind="ack")
    await conn.execute("DELETE FROM procrastinate_jobs WHERE id = %s", (job["id"],))

    wait_until(lambda: len(smtp_lines) == 2, 30, "the acknowledgement to be printed")
    assert smtp_lines[1].startswith(f"to {SENDER}: [{ticket['number']}] Printer on floor 2 is jammed")


def test_a_dovecot_left_running_by_a_killed_run_is_stopped_by_the_next_start(demo_settings):
    left = imap.start(demo_settings)  # its `deskmate run` died before it could stop it
    assert left is not None
    try:
        again = imap.start(demo_settings)
        assert again is not None
        try:
            assert left.process.wait(20) is not None
            assert _inbox_subjects(again.port, again.password.get_secret_value()) == []
        finally:
            again.stop()
    finally:
        left.stop()


def test_without_dovecot_the_run_goes_on_and_says_what_to_install(demo_settings, monkeypatch, caplog):
    monkeypatch.setattr(imap, "DOVECOT", "no-such-dovecot")
    with caplog.at_level(logging.WARNING, logger="api.dev.imap"):
        assert imap.start(demo_settings) is None
    assert "dovecot-imapd" in caplog.text
    assert not (demo_settings.data_dir / "imap").exists()


def test_a_taken_port_is_a_clear_error_naming_the_setting_to_change(demo_settings):
    with socket.create_server(("127.0.0.1", demo_settings.demo_imap_port)):
        with pytest.raises(imap.DemoImapError, match=f"port {demo_settings.demo_imap_port} is already in use.*"
                                                     "DESKMATE_DEMO_IMAP_PORT"):
            imap.start(demo_settings)
    assert not (demo_settings.data_dir / "imap" / "dovecot.conf").exists()


async def test_once_a_mailbox_of_your_own_exists_the_demo_one_is_turned_off(conn, demo_settings, desk, _no_demo_row):
    await imap.seed(conn, demo_settings, imap=desk)
    own = f"it-support-{uuid.uuid4().hex[:8]}"
    await mailboxes.create(conn, demo_settings, principal=OPERATOR, data=MailboxIn(
        name=own, host="imap.example.com", username="it-support@example.com", password=SecretStr("x"),
        enabled=False))
    try:
        names = await imap.own_mailboxes(conn)
        await imap.disable(conn, demo_settings)
    finally:
        await conn.execute("DELETE FROM mailboxes WHERE name = %s", (own,))

    assert own in names and imap.MAILBOX_NAME not in names
    [row] = await _mailbox_rows(conn)
    assert not row["enabled"]
