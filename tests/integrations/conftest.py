"""Settings for the integration clients pointing at the test servers (the servers are in ../conftest.py)."""

from __future__ import annotations

import pytest
from fakes.smtp_sink import SmtpSink
from fakes.twilio_server import FakeTwilioServer
from pydantic import SecretStr

from api.integrations.smtp.settings import SmtpSettings
from api.integrations.twilio.settings import TwilioSettings


@pytest.fixture
def smtp_settings(smtp: SmtpSink) -> SmtpSettings:
    return SmtpSettings(host="127.0.0.1", port=smtp.port, tls="none", user=smtp.sink.user,
                        password=SecretStr(smtp.sink.password), sender="desk@deskmate.test", _env_file=None)


@pytest.fixture
def twilio_settings(twilio: FakeTwilioServer) -> TwilioSettings:
    return TwilioSettings(account_sid=twilio.fake.account_sid, auth_token=SecretStr(twilio.fake.auth_token),
                          from_number=twilio.fake.from_numbers[0], base_url=twilio.url, _env_file=None)


