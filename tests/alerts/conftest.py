"""Real parts for alert deliveries: an SMTP server (aiosmtpd), the Twilio fake, a webhook receiver."""

from __future__ import annotations

import pytest
from fakes.smtp_sink import SmtpSink
from fakes.triage import drain, worker_settings
from fakes.twilio_server import FakeTwilioServer
from pydantic import SecretStr

from api.integrations.smtp.settings import SmtpSettings
from api.integrations.twilio.settings import TwilioSettings
from api.settings import Settings


def smtp_settings(smtp: SmtpSink) -> SmtpSettings:
    """Settings for the test SMTP server (plain, with its login)."""
    return SmtpSettings(host="127.0.0.1", port=smtp.port, tls="none", user=smtp.sink.user,
                        password=SecretStr(smtp.sink.password), sender="desk@deskmate.test")


def twilio_settings(twilio: FakeTwilioServer) -> TwilioSettings:
    """Settings pointing the Twilio SDK at the fake."""
    return TwilioSettings(account_sid=twilio.fake.account_sid, auth_token=SecretStr(twilio.fake.auth_token),
                          from_number=twilio.fake.from_numbers[0], base_url=twilio.url)


@pytest.fixture
def delivery_settings(settings: Settings, smtp: SmtpSink, twilio: FakeTwilioServer) -> Settings:
    return worker_settings(settings, smtp=smtp_settings(smtp), twilio=twilio_settings(twilio), alerts_max_attempts=3)


@pytest.fixture(autouse=True)
async def _quiet_queue(settings: Settings) -> None:
    """Runs what earlier tests left queued (with no SMTP/Twilio configured), so each test's fakes see only
    its own deliveries."""
    await drain(worker_settings(settings))
