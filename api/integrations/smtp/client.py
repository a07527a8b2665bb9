"""E-mail over SMTP (plain, STARTTLS or implicit TLS, optional login).

Every attempt of a delivery carries the same Message-ID, so a retry after a crash between the
server's acceptance and our bookkeeping is recognisable downstream as the same message. Header
values (subject, recipient) are made safe first: every line break Python knows (``\\r``, ``\\n``,
``\\x0b``, ``\\x0c``, ``\\x1c``-``\\x1e``, ``\\x85``, ``\\u2028``, ``\\u2029``) and other control
characters become spaces, so no text from a ticket can inject a header or break the message.
"""

from __future__ import annotations

import asyncio
import re
import smtplib
import ssl
import unicodedata
from collections.abc import Mapping
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate
from functools import cache

from api.errors import SmtpError
from api.integrations.smtp.settings import SmtpSettings

SUBJECT_MAX = 250
HEADER_MAX = 4000
_SPACES = re.compile(r"\s+")


def header_text(value: str, *, max_chars: int = SUBJECT_MAX) -> str:
    """``value`` as one safe header line: control, format, separator and surrogate characters become spaces,
    runs of whitespace collapse, cut to ``max_chars``."""
    cleaned = "".join(" " if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp", "Cs") else ch for ch in value)
    return _SPACES.sub(" ", cleaned).strip()[:max_chars]


@cache
def _tls() -> ssl.SSLContext:
    return ssl.create_default_context()


class SmtpClient:
    """Sends e-mail through the server ``SmtpSettings`` names. Raises SmtpError (``permanent`` for refusals)."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings

    def message_id(self, delivery_key: str) -> str:
        domain = self.settings.sender.rpartition("@")[2] or "deskmate.invalid"
        return f"<{header_text(delivery_key, max_chars=200)}@{domain}>"

    def build(self, *, to: str, subject: str, body: str, delivery_key: str,
              headers: Mapping[str, str] | None = None) -> EmailMessage:
        """The message as it will be sent; SmtpError (permanent) when it cannot be built from these values.
        ``headers`` add or replace headers (In-Reply-To, References, Reply-To, Auto-Submitted …)."""
        msg = EmailMessage()
        try:
            msg["From"], msg["To"] = self.settings.sender, Address(addr_spec=header_text(to, max_chars=320))
            msg["Subject"] = header_text(subject)
            msg["Message-ID"], msg["Date"] = self.message_id(delivery_key), formatdate(localtime=False)
            msg["Auto-Submitted"], msg["X-Deskmate-Delivery"] = "auto-generated", header_text(delivery_key)
            for name, value in (headers or {}).items():
                del msg[name]
                msg[name] = header_text(value, max_chars=HEADER_MAX)
            msg.set_content(body.encode("utf-8", "replace").decode("utf-8"))
            msg.as_bytes()  # fails here, not halfway through a conversation with the server
        except Exception as exc:  # the email package raises ValueError, MessageError, even IndexError on odd input
            raise SmtpError(f"Cannot build the e-mail to {to!r}: {type(exc).__name__}: {exc}", permanent=True) from exc
        return msg

    def _send(self, msg: EmailMessage) -> None:
        s = self.settings
        assert s.host
        smtp: smtplib.SMTP
        if s.tls == "ssl":
            smtp = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout_s, context=_tls())
        else:
            smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout_s)
        with smtp:
            if s.tls == "starttls":
                smtp.starttls(context=_tls())
            if s.user:
                smtp.login(s.user, s.password.get_secret_value() if s.password else "")
            smtp.send_message(msg)

    async def send(self, *, to: str, subject: str, body: str, delivery_key: str,
                   headers: Mapping[str, str] | None = None) -> str:
        """Sends one e-mail; returns its Message-ID."""
        if not self.settings.host:
            raise SmtpError("E-mail is not configured: set DESKMATE_SMTP_HOST.", permanent=True)
        msg = self.build(to=to, subject=subject, body=body, delivery_key=delivery_key, headers=headers)
        try:
            await asyncio.to_thread(self._send, msg)
        except smtplib.SMTPRecipientsRefused as exc:
            raise SmtpError(f"The mail server refused {to}: {exc.recipients}", permanent=True) from exc
        except smtplib.SMTPAuthenticationError as exc:
            raise SmtpError(f"SMTP login failed ({exc.smtp_code}); check DESKMATE_SMTP_USER/PASSWORD.",
                            permanent=True) from exc
        except smtplib.SMTPResponseException as exc:
            raise SmtpError(f"The mail server answered {exc.smtp_code}: {exc.smtp_error!r}",
                            permanent=500 <= exc.smtp_code < 600) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise SmtpError(f"Cannot send through {self.settings.host}:{self.settings.port}: "
                            f"{type(exc).__name__}: {exc}") from exc
        return str(msg["Message-ID"])
