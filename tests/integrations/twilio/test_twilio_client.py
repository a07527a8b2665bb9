"""TwilioClient with the official SDK against the Twilio fake: configured only by its settings model, errors
translated (permanent for codes retrying cannot fix)."""

from __future__ import annotations

import pytest

from api.errors import TwilioError
from api.integrations.twilio.client import TwilioClient
from api.integrations.twilio.settings import TwilioSettings


async def test_sends_from_its_settings(twilio, twilio_settings):
    sent = await TwilioClient(twilio_settings).send(to="+15551230042", body="INC-000001 P1 VPN down")
    [message] = twilio.fake.messages
    assert (message.to, message.from_, message.body, message.sid) == (
        "+15551230042", twilio_settings.from_number, "INC-000001 P1 VPN down", sent.sid)
    assert not sent.reused


async def test_errors_are_translated(twilio, twilio_settings):
    with pytest.raises(TwilioError, match="not configured") as unconfigured:
        await TwilioClient(TwilioSettings(_env_file=None)).send(to="+15551230042", body="x")
    assert unconfigured.value.permanent
    with pytest.raises(TwilioError) as invalid:
        await TwilioClient(twilio_settings).send(to="+15005550001", body="x")
    assert (invalid.value.code, invalid.value.permanent) == (21211, True)
    twilio.fake.fail_next(429, 20429)
    with pytest.raises(TwilioError) as limited:
        await TwilioClient(twilio_settings).send(to="+15551230042", body="x")
    assert (limited.value.code, limited.value.permanent) == (20429, False)
    gone = twilio_settings.model_copy(update={"base_url": "http://127.0.0.1:9", "timeout_s": 2.0})
    with pytest.raises(TwilioError, match="Cannot reach Twilio") as down:
        await TwilioClient(gone).send(to="+15551230042", body="x")
    assert not down.value.permanent
