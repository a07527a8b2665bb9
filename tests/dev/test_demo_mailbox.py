"""The demo mailbox `deskmate run` starts without an SMTP server (api/dev/mailbox.py): a real SMTP server on loopback
that keeps each message as an .eml file and prints one line per message; the api's own mailer delivers to it."""

from __future__ import annotations

import email
import email.policy
import socket

import pytest
from fakes.slapd_server import free_port

from api.dev import mailbox
from api.integrations.smtp.client import SmtpClient
from api.integrations.smtp.settings import SmtpSettings
from api.settings import Settings


@pytest.fixture
def demo_settings(tmp_path, monkeypatch) -> Settings:
    monkeypatch.delenv("DESKMATE_SMTP_HOST", raising=False)
    return Settings(data_dir=tmp_path, demo_smtp_port=free_port(), _env_file=None)  # type: ignore[call-arg]


async def test_the_mailbox_keeps_and_prints_what_the_api_sends(demo_settings, monkeypatch):
    lines: list[str] = []
    box = mailbox.start(demo_settings, echo=lines.append)
    assert box is not None
    try:
        for name, value in box.env.items():
            monkeypatch.setenv(name, value)
        client = SmtpClient(SmtpSettings(_env_file=None))  # type: ignore[call-arg]
        await client.send(to="jordan.blake@example.com", subject="Your deskmate verification code",
                          body="Your code is 482913. It expires in 5 min.", delivery_key="demo-1")
    finally:
        box.stop()
    [kept] = list((demo_settings.data_dir / "mail").glob("*.eml"))
    message = email.message_from_bytes(kept.read_bytes(), policy=email.policy.default)
    assert message["To"] == "jordan.blake@example.com" and "482913" in message.get_body().get_content()
    [line] = lines
    assert line.startswith("to jordan.blake@example.com: Your deskmate verification code — Your code is 482913")
    assert str(kept) in line


def test_no_mailbox_when_a_server_is_configured(tmp_path, monkeypatch):
    monkeypatch.setenv("DESKMATE_SMTP_HOST", "smtp.example.com")
    settings = Settings(data_dir=tmp_path, _env_file=None)  # type: ignore[call-arg]
    assert mailbox.start(settings, echo=print) is None
    assert not (tmp_path / "mail").exists()


def test_a_taken_port_is_a_clear_error(demo_settings):
    with socket.create_server(("127.0.0.1", demo_settings.demo_smtp_port)):
        with pytest.raises(mailbox.MailboxError, match="DESKMATE_DEMO_SMTP_PORT"):
            mailbox.start(demo_settings, echo=print)
