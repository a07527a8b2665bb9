"""Real parts for step-up deliveries: an SMTP server (aiosmtpd) and the Twilio fake (the real SDK talks to it)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fakes.smtp_sink import SmtpSink
from fakes.twilio_server import FakeTwilioServer
from pydantic import SecretStr

from api.integrations.smtp.settings import SmtpSettings
from api.integrations.twilio.settings import TwilioSettings
from api.settings import Settings


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    with SmtpSink() as server:
        yield server


@pytest.fixture
def twilio() -> Iterator[FakeTwilioServer]:
    with FakeTwilioServer() as server:
        yield server


@pytest.fixture
def delivery_settings(settings: Settings, smtp: SmtpSink, twilio: FakeTwilioServer) -> Settings:
    """The test settings with SMS and e-mail going to the fakes."""
    return settings.model_copy(update={
        "smtp": SmtpSettings(host="127.0.0.1", port=smtp.port, tls="none", user=smtp.sink.user,
                             password=SecretStr(smtp.sink.password), sender="desk@deskmate.test", _env_file=None),
        "twilio": TwilioSettings(account_sid=twilio.fake.account_sid, auth_token=SecretStr(twilio.fake.auth_token),
                                 from_number=twilio.fake.from_numbers[0], base_url=twilio.url, _env_file=None)})
