"""Real or faithful servers for the integration clients: aiosmtpd, the Twilio fake, a webhook receiver."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from fakes.smtp_sink import SmtpSink
from fakes.twilio_server import FakeTwilioServer
from fakes.webhook_receiver import Receiver, ReceiverServer
from pydantic import SecretStr

from api.integrations.smtp.settings import SmtpSettings
from api.integrations.twilio.settings import TwilioSettings


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    with SmtpSink() as server:
        yield server


@pytest.fixture
def smtp_settings(smtp: SmtpSink) -> SmtpSettings:
    return SmtpSettings(host="127.0.0.1", port=smtp.port, tls="none", user=smtp.sink.user,
                        password=SecretStr(smtp.sink.password), sender="desk@deskmate.test", _env_file=None)


@pytest.fixture
def twilio() -> Iterator[FakeTwilioServer]:
    with FakeTwilioServer() as server:
        yield server


@pytest.fixture
def twilio_settings(twilio: FakeTwilioServer) -> TwilioSettings:
    return TwilioSettings(account_sid=twilio.fake.account_sid, auth_token=SecretStr(twilio.fake.auth_token),
                          from_number=twilio.fake.from_numbers[0], base_url=twilio.url, _env_file=None)


@pytest.fixture
def receiver() -> Iterator[ReceiverServer]:
    with ReceiverServer(Receiver(secret="whsec_" + secrets.token_urlsafe(24))) as server:
        yield server
