"""A real SMTP server for tests (aiosmtpd on 127.0.0.1) that keeps what it receives.

Login is required (AUTH PLAIN/LOGIN with ``user``/``password``, allowed without TLS here) so the
client's credentials path runs too.
"""

from __future__ import annotations

import email
import email.policy
import socket
import threading
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


@dataclass
class Sink:
    user: str = "deskmate"
    password: str = "smtp-secret"
    received: list[Received] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd hook
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.changed:
            self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), message))  # type: ignore[arg-type]
            self.changed.notify_all()
        return "250 Message accepted for delivery"

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and auth_data.login.decode() == self.user \
            and auth_data.password.decode() == self.password
        return AuthResult(success=ok, handled=False)

    def wait_for(self, count: int, timeout: float = 30) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: len(self.received) >= count, timeout=timeout)


class SmtpSink:
    """``with SmtpSink() as smtp: smtp.port, smtp.sink.received``."""

    def __init__(self) -> None:
        self.sink = Sink()
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self._controller = Controller(self.sink, hostname="127.0.0.1", port=self.port, authenticator=self.sink.authenticate,
                                      auth_required=True, auth_require_tls=False)

    def __enter__(self) -> SmtpSink:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()
