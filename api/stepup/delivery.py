"""Sending a code, or a workflow's one-time password, to a factor on file: SMS through Twilio, e-mail over SMTP.
The only place either leaves the process."""

from __future__ import annotations

import logging

from pydantic import SecretStr

from api.errors import IntegrationError
from api.integrations.directory import DirectoryUser
from api.integrations.smtp.client import SmtpClient
from api.integrations.twilio.client import TwilioClient
from api.settings import Settings
from api.stepup.models import Factor

log = logging.getLogger(__name__)
SUBJECT = "Your service desk verification code"
PASSWORD_SUBJECT = "Your one-time service desk password"
WARNING = "The service desk will never ask you for it: type it only into the chat where you asked for it."


class DeliveryFailed(IntegrationError):
    """The code could not be sent; the detail names the destination masked only."""

    type, title = "/problems/stepup-delivery", "The verification code could not be sent"


def text(code: str, *, minutes: int) -> str:
    return f"Your service desk verification code is {code}. It expires in {minutes} minutes. {WARNING}"


def password_text(password: str) -> str:
    return (f"Your one-time password is {password}. Sign in with it: you will choose a new one straight away. "
            f"{WARNING}")


async def send(settings: Settings, *, factor: Factor, to: str, masked: str, code: str, challenge_id: int) -> None:
    """Sends ``code`` to ``to``; DeliveryFailed (from the integration's error) when it cannot."""
    body = text(code, minutes=max(1, settings.stepup.code_ttl_s // 60))
    try:
        if factor is Factor.sms:
            await TwilioClient(settings.twilio).send(to=to, body=body)
        else:
            await SmtpClient(settings.smtp).send(to=to, subject=SUBJECT, body=body,
                                                 delivery_key=f"stepup-{challenge_id}")
    except IntegrationError as exc:
        log.warning("step-up code not delivered", extra={"challenge_id": challenge_id, "factor": factor.value,
                                                         "kind": type(exc).__name__, "error": exc.detail})
        raise DeliveryFailed(f"The code could not be sent to {masked}; try another way, or again shortly.",
                             permanent=exc.permanent) from exc


async def send_password(settings: Settings, *, user: DirectoryUser, password: SecretStr, key: str) -> str:
    """Sends a one-time password to the directory user's mobile (SMS, when Twilio is configured), else their
    e-mail address; returns the channel ("sms" or "email"). ``key`` makes a repeated e-mail one message.

    Raises DeliveryFailed when neither is on file or the integration fails (the detail names no destination).
    """
    body = password_text(password.get_secret_value())
    channel = "sms" if user.mobile and settings.twilio.configured else "email" if user.email else None
    try:
        if channel == "sms":
            await TwilioClient(settings.twilio).send(to=user.mobile or "", body=body)
        elif channel == "email":
            await SmtpClient(settings.smtp).send(to=user.email or "", subject=PASSWORD_SUBJECT, body=body,
                                                 delivery_key=key)
        else:
            raise DeliveryFailed("No mobile number or e-mail address is on file in the directory for this account.",
                                 permanent=True)
    except DeliveryFailed:
        raise
    except IntegrationError as exc:
        log.warning("one-time password not delivered", extra={"key": key, "channel": channel,
                                                              "kind": type(exc).__name__, "error": exc.detail})
        raise DeliveryFailed(f"The one-time password could not be sent by {channel}.",
                             permanent=exc.permanent) from exc
    log.info("one-time password delivered", extra={"key": key, "channel": channel})
    return channel
