"""SMS delivery through Twilio's Messages API with the official SDK.

Twilio has no idempotency key for sending. When an earlier attempt of a delivery was interrupted
(the worker died between Twilio's answer and our bookkeeping), the recent messages to the number are
listed first (newest first, paged) and a message with the same body created since that attempt is
taken as the one already sent, instead of sending again.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta

from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from api.errors import TwilioError
from api.settings import Settings

# Codes where retrying the same request cannot succeed (spec: ../shared/specs/twilio.md §4).
PERMANENT_CODES = frozenset({20003, 20404, 21211, 21212, 21408, 21604, 21606, 21608, 21610, 21612, 21614, 21617})
LOOKBACK_LIMIT = 100


@dataclass(frozen=True)
class Sent:
    sid: str
    status: str
    segments: str | None
    reused: bool = False


def client(settings: Settings) -> Client:
    """A Twilio client from the settings (DESKMATE_TWILIO_BASE_URL points it at a fake in tests)."""
    if not (settings.twilio_account_sid and settings.twilio_auth_token and settings.twilio_from_number):
        raise TwilioError("SMS is not configured: set DESKMATE_TWILIO_ACCOUNT_SID, _AUTH_TOKEN and _FROM_NUMBER.",
                          permanent=True)
    twilio = Client(settings.twilio_account_sid, settings.twilio_auth_token.get_secret_value(),
                    http_client=TwilioHttpClient(timeout=settings.webhook_timeout_s))
    if settings.twilio_base_url:
        twilio.api.base_url = settings.twilio_base_url.rstrip("/")
    return twilio


def _already_sent(twilio: Client, *, to: str, from_: str, body: str, since: datetime) -> Sent | None:
    for message in twilio.messages.list(to=to, from_=from_, limit=LOOKBACK_LIMIT, page_size=50):
        created = message.date_created
        if created is not None and created < since - timedelta(seconds=5):
            break
        if message.body == body:
            return Sent(sid=str(message.sid), status=str(message.status), segments=message.num_segments, reused=True)
    return None


def _send(settings: Settings, *, to: str, body: str, interrupted_since: datetime | None) -> Sent:
    twilio = client(settings)
    from_ = str(settings.twilio_from_number)
    if interrupted_since is not None:
        earlier = _already_sent(twilio, to=to, from_=from_, body=body, since=interrupted_since)
        if earlier:
            return earlier
    message = twilio.messages.create(to=to, from_=from_, body=body)
    return Sent(sid=str(message.sid), status=str(message.status), segments=message.num_segments)


async def send(settings: Settings, *, to: str, body: str, interrupted_since: datetime | None = None) -> Sent:
    """Sends one SMS (or finds the one an interrupted attempt sent). Raises TwilioError."""
    try:
        return await asyncio.to_thread(_send, settings, to=to, body=body, interrupted_since=interrupted_since)
    except TwilioRestException as exc:
        permanent = exc.code in PERMANENT_CODES or (400 <= exc.status < 500 and exc.status != 429)
        raise TwilioError(f"Twilio refused the message to {to}: {exc.code} {exc.msg}", code=exc.code,
                          permanent=permanent, http_status=exc.status) from exc
    except TwilioException as exc:
        raise TwilioError(f"Cannot reach Twilio: {exc}") from exc
    except OSError as exc:
        raise TwilioError(f"Cannot reach Twilio: {type(exc).__name__}: {exc}") from exc
