"""The one-time e-mailed sign-in link: mailed only to people with an account, works once, expires, rate-limited;
and ``deskmate signin-link`` prints one without mailing."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Iterator

import httpx
import psycopg
import pytest
from fakes.smtp_sink import Sink
from signin_support import COOKIE, LINKS_PER_ADDRESS, sign_in
from typer.testing import CliRunner

from api.auth.models import Role
from api.cli import app as cli
from api.settings import Settings, get_settings
from api.web.signin import links

LINK = re.compile(r"http://127\.0\.0\.1/signin/link/[A-Za-z0-9_-]+")


def _path(url: str) -> str:
    return url.removeprefix("http://127.0.0.1")


async def test_a_mailed_link_signs_an_agent_in_to_the_console(web: httpx.AsyncClient, mailbox: Sink, make_actor) -> None:
    agent = await make_actor(Role.agent)
    answer = await web.post("/signin/link", data={"email": agent.user.email.upper()})
    assert answer.status_code == 200 and "Check your e-mail" in answer.text
    assert [m.rcpt_tos for m in mailbox.received] == [[agent.user.email]]
    link = LINK.search(mailbox.received[0].message.get_content())
    assert link, "the e-mail carries the link"
    signed_in = await web.get(_path(link.group(0)))
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/console"
    assert COOKIE in signed_in.cookies
    console = await web.get("/console")
    assert console.status_code == 200 and agent.user.email in console.text


async def test_a_used_link_does_not_work_again(web: httpx.AsyncClient, conn: psycopg.AsyncConnection,
                                               web_settings: Settings, make_actor) -> None:
    employee = await make_actor(Role.employee)
    token = await links.issue(conn, web_settings, user_id=employee.user.id)  # type: ignore[arg-type]
    first = await web.get(f"/signin/link/{token}")
    assert first.status_code == 303 and first.headers["location"] == "/me"
    web.cookies.clear()
    again = await web.get(f"/signin/link/{token}")
    assert again.status_code == 400 and "already used" in again.text
    assert COOKIE not in again.cookies


async def test_an_expired_link_is_refused(web: httpx.AsyncClient, conn: psycopg.AsyncConnection,
                                          web_settings: Settings, make_actor) -> None:
    employee = await make_actor(Role.employee)
    token = await links.issue(conn, web_settings, user_id=employee.user.id)  # type: ignore[arg-type]
    await conn.execute("UPDATE signin_links SET expires_at = now() - interval '1 second' WHERE user_id = %s",
                       (employee.user.id,))
    refused = await web.get(f"/signin/link/{token}")
    assert refused.status_code == 400 and "expired" in refused.text and COOKIE not in refused.cookies


async def test_an_unknown_or_inactive_address_gets_the_same_answer_and_no_mail(
        web: httpx.AsyncClient, mailbox: Sink, make_actor, conn: psycopg.AsyncConnection) -> None:
    known, gone = await make_actor(Role.employee), await make_actor(Role.employee)
    await conn.execute("UPDATE users SET active = false WHERE id = %s", (gone.user.id,))
    unknown = await web.post("/signin/link", data={"email": f"nobody-{uuid.uuid4().hex[:8]}@example.com"})
    inactive = await web.post("/signin/link", data={"email": gone.user.email})
    answered = await web.post("/signin/link", data={"email": known.user.email})
    assert unknown.status_code == inactive.status_code == answered.status_code == 200
    assert unknown.text == inactive.text == answered.text
    assert [m.rcpt_tos for m in mailbox.received] == [[known.user.email]]  # background mail ran before the answer returned


async def test_links_for_one_address_are_rate_limited(web: httpx.AsyncClient, mailbox: Sink) -> None:
    email = f"nobody-{uuid.uuid4().hex[:8]}@example.com"
    answers = [(await web.post("/signin/link", data={"email": email})).status_code
               for _ in range(LINKS_PER_ADDRESS + 1)]
    assert answers == [200] * LINKS_PER_ADDRESS + [429]


async def test_a_link_made_for_a_session_that_exists_rotates_it(
        web: httpx.AsyncClient, conn: psycopg.AsyncConnection, web_settings: Settings, make_actor) -> None:
    agent = await make_actor(Role.agent)
    first = (await sign_in(web, conn, web_settings, user_id=agent.user.id)).cookies[COOKIE]
    second = (await sign_in(web, conn, web_settings, user_id=agent.user.id)).cookies[COOKIE]
    assert first != second
    rows = await (await conn.execute("SELECT count(*) AS n FROM web_sessions WHERE user_id = %s",
                                     (agent.user.id,))).fetchone()
    assert rows["n"] == 1  # the browser's old session was ended at the second sign-in
    web.cookies.set(COOKIE, first)
    assert (await web.get("/console")).status_code == 303  # the old cookie signs nobody in


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> Iterator[CliRunner]:
    assert settings.database_url is not None
    monkeypatch.setenv("DATABASE_URL", settings.database_url.get_secret_value())
    monkeypatch.setenv("DESKMATE_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("DESKMATE_ENV", "test")
    monkeypatch.setenv("DESKMATE_PUBLIC_URL", "http://127.0.0.1")
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


async def test_the_cli_prints_a_working_link_without_mailing(
        runner: CliRunner, web: httpx.AsyncClient, mailbox: Sink, make_actor) -> None:
    agent = await make_actor(Role.agent)
    printed = await asyncio.to_thread(runner.invoke, cli, ["signin-link", agent.user.email])  # a loop of its own
    assert printed.exit_code == 0, printed.output
    assert mailbox.received == []
    assert (await web.get(_path(printed.output.strip()))).headers["location"] == "/console"
    refused = await asyncio.to_thread(runner.invoke, cli, ["signin-link", "nobody@example.com"])
    assert refused.exit_code == 1 and "No active person" in refused.output
