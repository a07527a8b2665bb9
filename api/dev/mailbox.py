"""The demo mailbox ``deskmate run`` starts when no SMTP server is configured: an SMTP server on loopback (aiosmtpd)
that keeps every message under ``<data_dir>/mail/`` (one ``.eml`` each) and prints one line per message, so the
demo's e-mails — a step-up code, an approval link, an alert — can be read in the terminal that runs the stack.
A message to a local address (``local``: the demo desk, api/dev/imap.py) is also handed to that address's inbox.

Nothing starts when DESKMATE_SMTP_HOST names a server, or when aiosmtpd (a dev dependency) is not installed. It
never relays anything: a message stays on this machine.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import logging
import re
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from api.dev.directory import listening
from api.settings import Settings

log = logging.getLogger(__name__)

NO_MAILBOX = "mailbox: none (aiosmtpd is not installed; `make setup` installs it): e-mail steps fail until " \
             "DESKMATE_SMTP_HOST names a server"
PREVIEW_CHARS = 300


class MailboxError(RuntimeError):
    """The demo mailbox could not be started: the message says why and what to change."""


@dataclass
class DemoMailbox:
    port: int
    directory: Path
    env: dict[str, str]  # the DESKMATE_SMTP_* the api and the worker get
    stop: Callable[[], None]


def preview(message: EmailMessage) -> str:
    """One line about ``message``: who it is for, its subject and the start of its text."""
    part = message.get_body(preferencelist=("plain", "html"))
    text = part.get_content() if part is not None else ""
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", text)).strip()
    if len(text) > PREVIEW_CHARS:
        text = text[:PREVIEW_CHARS] + "…"
    return f"to {message['To']}: {message['Subject']} — {text}"


class _Keep:
    """aiosmtpd handler: saves each message, hands it to the local inboxes it is for and tells ``echo`` about it."""

    def __init__(self, directory: Path, echo: Callable[[str], None],
                 local: Mapping[str, Callable[[bytes], None]]) -> None:
        self.directory, self.echo, self.lock = directory, echo, threading.Lock()
        self.local = {address.lower(): deliver for address, deliver in local.items()}

    async def _deliver(self, recipients: list[str], raw: bytes) -> str:
        """Delivers ``raw`` to each local recipient; what happened, for the message's line."""
        notes = []
        for address in dict.fromkeys(r.lower() for r in recipients):
            if (deliver := self.local.get(address)) is None:
                continue
            try:
                await asyncio.to_thread(deliver, raw)  # a blocking IMAP session
            except Exception as exc:  # the message is kept either way; the line says what failed
                notes.append(f"not delivered to the {address} inbox: {exc}")
            else:
                notes.append(f"delivered to the {address} inbox")
        return "".join(f" ({note})" for note in notes)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's name)
        raw = envelope.original_content or envelope.content
        name = f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}.eml"
        (self.directory / name).write_bytes(raw)
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        delivered = await self._deliver(envelope.rcpt_tos, raw)
        with self.lock:
            self.echo(f"{preview(message)}  [{self.directory / name}]{delivered}")
        return "250 kept in the demo mailbox"


def start(settings: Settings, *, echo: Callable[[str], None],
          local: Mapping[str, Callable[[bytes], None]] | None = None) -> DemoMailbox | None:
    """Starts the demo mailbox on ``DESKMATE_DEMO_SMTP_PORT``; None when DESKMATE_SMTP_HOST is set or aiosmtpd is
    missing. ``echo`` gets one line per message received; ``local`` maps an address to the delivery into its
    inbox (raw message bytes)."""
    if settings.smtp.host:
        return None
    try:
        from aiosmtpd.controller import Controller
    except ImportError:
        log.warning(NO_MAILBOX)
        return None
    port = settings.demo_smtp_port
    if listening(port):
        raise MailboxError(f"port {port} is already in use (another `deskmate run`?): set DESKMATE_DEMO_SMTP_PORT "
                           "to a free port, or DESKMATE_SMTP_HOST to your mail server")
    directory = settings.data_dir / "mail"
    directory.mkdir(parents=True, exist_ok=True)
    controller = Controller(_Keep(directory, echo, local or {}), hostname="127.0.0.1", port=port)
    controller.start()
    env = {"DESKMATE_SMTP_HOST": "127.0.0.1", "DESKMATE_SMTP_PORT": str(port), "DESKMATE_SMTP_TLS": "none"}
    return DemoMailbox(port=port, directory=directory, env=env, stop=controller.stop)
