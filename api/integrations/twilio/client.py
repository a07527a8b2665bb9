"""SMS through Twilio's Messages API with the official SDK.

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
from api.integrations.twilio.settings import TwilioSettings

# Codes where retrying the same request cannot succeed (spec: ../shared/specs/twilio.md §4).
PERMANENT_CODES = frozenset({20003, 20404, 21211, 21212, 21408, 21604, 21606, 21608, 21610, 21612, 21614, 21617})
LOOKBACK_LIMIT = 100


@dataclass(frozen=True)
class Sent:
    sid: str
    status: str
    segments: str | None
    reused: bool = False


class TwilioClient:
    """Sends SMS from ``TwilioSettings.from_number``. Raises TwilioError (``permanent`` when retrying cannot help)."""

    def __init__(self, settings: TwilioSettings) -> None:
        self.settings = settings

    def _sdk(self) -> Client:
        s = self.settings
        if not (s.account_sid and s.auth_token and s.from_number):
            raise TwilioError("SMS is not configured: set DESKMATE_TWILIO_ACCOUNT_SID, _AUTH_TOKEN and _FROM_NUMBER.",
                              permanent=True)
        sdk = Client(s.account_sid, s.auth_token.get_secret_value(), http_client=TwilioHttpClient(timeout=s.timeout_s))
        if s.base_url:  # DESKMATE_TWILIO_BASE_URL points the SDK at a fake in tests
            sdk.api.base_url = s.base_url.rstrip("/")
        return sdk

    @staticmethod
    def _already_sent(sdk: Client, *, to: str, from_: str, body: str, since: datetime) -> Sent | None:
        for message in sdk.messages.list(to=to, from_=from_, limit=LOOKBACK_LIMIT, page_size=50):
            created = message.date_created
            if created is not None and created < since - timedelta(seconds=5):
                break
            if message.body == body:
                return Sent(sid=str(message.sid), status=str(message.status), segments=message.num_segments,
                            reused=True)
        return None

    def _send(self, *, to: str, body: str, interrupted_since: datetime | None) -> Sent:
        sdk = self._sdk()
        from_ = str(self.settings.from_number)
        if interrupted_since is not None:
            earlier = self._already_sent(sdk, to=to, from_=from_, body=body, since=interrupted_since)
            if earlier:
                return earlier
        message = sdk.messages.create(to=to, from_=from_, body=body)
        return Sent(sid=str(message.sid), status=str(message.status), segments=message.num_segments)

    async def send(self, *, to: str, body: str, interrupted_since: datetime | None = None) -> Sent:
        """Sends one SMS (or finds the one an interrupted attempt sent)."""
        try:
            return await asyncio.to_thread(self._send, to=to, body=body, interrupted_since=interrupted_since)
        except TwilioRestException as exc:
            permanent = exc.code in PERMANENT_CODES or (400 <= exc.status < 500 and exc.status != 429)
            raise TwilioError(f"Twilio refused the message to {to}: {exc.code} {exc.msg}", code=exc.code,
                              permanent=permanent, http_status=exc.status) from exc
        except TwilioException as exc:
            raise TwilioError(f"Cannot reach Twilio: {exc}") from exc
        except OSError as exc:
            raise TwilioError(f"Cannot reach Twilio: {type(exc).__name__}: {exc}") from exc
