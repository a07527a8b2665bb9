"""EMAIL delivery over SMTP (plain, STARTTLS or implicit TLS, optional login).

Every attempt of a delivery carries the same Message-ID, so a retry after a crash between the
server's acceptance and our bookkeeping is recognisable downstream as the same message.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate
from functools import cache

from api.errors import SmtpError
from api.settings import Settings


def message_id(settings: Settings, delivery_key: str) -> str:
    domain = settings.smtp_from.rpartition("@")[2] or "deskmate.invalid"
    return f"<{delivery_key}@{domain}>"


def build(settings: Settings, *, to: str, subject: str, body: str, delivery_key: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = settings.smtp_from, to, subject.replace("\n", " ")[:250]
    msg["Message-ID"], msg["Date"] = message_id(settings, delivery_key), formatdate(localtime=False)
    msg["Auto-Submitted"], msg["X-Deskmate-Delivery"] = "auto-generated", delivery_key
    msg.set_content(body)
    return msg


@cache
def _tls() -> ssl.SSLContext:
    return ssl.create_default_context()


def _send(settings: Settings, msg: EmailMessage) -> None:
    assert settings.smtp_host
    context = _tls()
    timeout = settings.smtp_timeout_s
    smtp: smtplib.SMTP
    if settings.smtp_tls == "ssl":
        smtp = smtplib.SMTP_SSL(settings.smtp_host, settings.smtp_port, timeout=timeout, context=context)
    else:
        smtp = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=timeout)
    with smtp:
        if settings.smtp_tls == "starttls":
            smtp.starttls(context=context)
        if settings.smtp_user:
            password = settings.smtp_password.get_secret_value() if settings.smtp_password else ""
            smtp.login(settings.smtp_user, password)
        smtp.send_message(msg)


async def send(settings: Settings, *, to: str, subject: str, body: str, delivery_key: str) -> str:
    """Sends one e-mail; returns its Message-ID. Raises SmtpError (``permanent`` for refusals)."""
    if not settings.smtp_host:
        raise SmtpError("E-mail is not configured: set DESKMATE_SMTP_HOST.", permanent=True)
    msg = build(settings, to=to, subject=subject, body=body, delivery_key=delivery_key)
    try:
        await asyncio.to_thread(_send, settings, msg)
    except smtplib.SMTPRecipientsRefused as exc:
        raise SmtpError(f"The mail server refused {to}: {exc.recipients}", permanent=True) from exc
    except smtplib.SMTPAuthenticationError as exc:
        raise SmtpError(f"SMTP login failed ({exc.smtp_code}); check DESKMATE_SMTP_USER/PASSWORD.",
                        permanent=True) from exc
    except smtplib.SMTPResponseException as exc:
        raise SmtpError(f"The mail server answered {exc.smtp_code}: {exc.smtp_error!r}",
                        permanent=500 <= exc.smtp_code < 600) from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise SmtpError(f"Cannot send through {settings.smtp_host}:{settings.smtp_port}: "
                        f"{type(exc).__name__}: {exc}") from exc
    return str(msg["Message-ID"])
