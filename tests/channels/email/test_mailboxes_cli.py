"""``deskmate mailboxes add|list|test|poll`` against the test database and the real Dovecot."""

from __future__ import annotations

import asyncio
import uuid

from email_support import message
from typer.testing import CliRunner

from api import cli
from api.auth.models import Role
from api.settings import get_settings


async def _run(args: list[str], *, stdin: str | None = None):
    return await asyncio.to_thread(CliRunner().invoke, cli.app, args, input=stdin)  # it runs its own loop


async def test_add_test_poll_list(conn, settings, dovecot, make_actor, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", settings.database_url.get_secret_value())
    monkeypatch.setenv("DESKMATE_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("DESKMATE_EMAIL_ACKNOWLEDGE", "false")
    get_settings.cache_clear()
    alice = await make_actor(Role.employee)
    user, password = dovecot.add_user()
    name = f"cli-{uuid.uuid4().hex[:6]}"
    dovecot.append(user, password, message(sender=alice.user.email, subject="Mouse broken", body="It clicks twice.")[0])
    try:
        added = await _run(["mailboxes", "add", "--name", name, "--host", dovecot.host, "--port", str(dovecot.port),
                            "--tls", "none", "--username", user], stdin=f"{password}\n")
        tested = await _run(["mailboxes", "test", name])
        polled = await _run(["mailboxes", "poll", name])
        listed = await _run(["mailboxes", "list"])
    finally:
        get_settings.cache_clear()

    assert added.exit_code == 0, added.output
    assert tested.exit_code == 0 and f"{name}: ok, 1 messages" in tested.output
    assert polled.exit_code == 0 and f"{name}: ticket 1" in polled.output
    assert name in listed.output and "last uid 1" in listed.output and password not in listed.output + added.output
