"""Each integration's settings are nested (settings.smtp, .twilio, .webhooks, .outbound) and keep the
environment variable names and defaults they always had."""

from __future__ import annotations

import pytest

from api.settings import Settings


def test_env_names_and_defaults_are_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "DESKMATE_SMTP_HOST": "mail.example.com", "DESKMATE_SMTP_PORT": "465", "DESKMATE_SMTP_TLS": "ssl",
        "DESKMATE_SMTP_USER": "desk", "DESKMATE_SMTP_PASSWORD": "pw", "DESKMATE_SMTP_FROM": "desk@example.com",
        "DESKMATE_SMTP_TIMEOUT_S": "7", "DESKMATE_TWILIO_ACCOUNT_SID": "AC1", "DESKMATE_TWILIO_AUTH_TOKEN": "tok",
        "DESKMATE_TWILIO_FROM_NUMBER": "+15550001111", "DESKMATE_TWILIO_BASE_URL": "http://twilio.test",
        "DESKMATE_WEBHOOK_TIMEOUT_S": "3", "DESKMATE_OUTBOUND_ALLOW_PRIVATE": "true",
    }.items():
        monkeypatch.setenv(name, value)
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert (s.smtp.host, s.smtp.port, s.smtp.tls, s.smtp.user, s.smtp.sender, s.smtp.timeout_s) == (
        "mail.example.com", 465, "ssl", "desk", "desk@example.com", 7.0)
    assert s.smtp.password is not None and s.smtp.password.get_secret_value() == "pw"
    assert (s.twilio.account_sid, s.twilio.from_number, s.twilio.base_url) == ("AC1", "+15550001111", "http://twilio.test")
    assert s.twilio.auth_token is not None and s.twilio.auth_token.get_secret_value() == "tok"
    assert s.webhooks.timeout_s == 3.0 and s.outbound.allow_private is True
    assert s.twilio.timeout_s == 3.0  # Twilio requests always used the webhook timeout …
    monkeypatch.setenv("DESKMATE_TWILIO_TIMEOUT_S", "4")
    assert Settings(_env_file=None).twilio.timeout_s == 4.0  # type: ignore[call-arg]  # … unless given their own


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert (s.smtp.host, s.smtp.port, s.smtp.tls, s.smtp.sender, s.smtp.timeout_s) == (
        None, 587, "starttls", "deskmate@localhost", 15.0)
    assert (s.twilio.account_sid, s.twilio.timeout_s, s.webhooks.timeout_s, s.outbound.allow_private) == (
        None, 10.0, 10.0, False)
    assert s.alerts_template_max_bytes == 65_536 and s.alerts_lease_s == 300.0
