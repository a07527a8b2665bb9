"""The e-mail channel's fixtures: a real Dovecot for the session, a fresh IMAP account and mailbox per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from dovecot_support import Dovecot

from api.channels.email.settings import EmailSettings
from api.settings import Settings


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    with Dovecot() as server:
        yield server


@pytest.fixture
def mail_settings(delivery_settings: Settings) -> Settings:
    """Test settings with mail going to the SMTP sink and small limits the corpus crosses."""
    return delivery_settings.model_copy(update={
        "email": EmailSettings(max_attachment_bytes=1024, max_message_bytes=64 * 1024, _env_file=None)})
