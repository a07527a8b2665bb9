"""Sending a code to a factor on file: SMS through Twilio, e-mail over SMTP. The only place a code leaves."""

from __future__ import annotations

import logging

from api.errors import IntegrationError
from api.integrations.smtp.client import SmtpClient
from api.integrations.twilio.client import TwilioClient
from api.settings import Settings
from api.stepup.models import Factor

log = logging.getLogger(__name__)
SUBJECT = "Your service desk verification code"
WARNING = "The service desk will never ask you for it: type it only into the chat where you asked for it."


class DeliveryFailed(IntegrationError):
    """The code could not be sent; the detail names the destination masked only."""

    type, title = "/problems/stepup-delivery", "The verification code could not be sent"


def text(code: str, *, minutes: int) -> str:
    return f"Your service desk verification code is {code}. It expires in {minutes} minutes. {WARNING}"


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
