"""The e-mail channel's fixtures: a real Dovecot for the session, a fresh IMAP account and mailbox per test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import psycopg
import pytest
from fakes.dovecot import Dovecot

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


@pytest.fixture(autouse=True)
async def _leave_no_mail_work(conn: psycopg.AsyncConnection) -> AsyncIterator[None]:
    """After each test: no answer job waiting and no mailbox enabled, so other tests' workers find no mail work."""
    yield
    await conn.execute("DELETE FROM procrastinate_jobs WHERE task_name = 'email.answer' AND status = 'todo'")
    await conn.execute("UPDATE mailboxes SET enabled = false")
