"""Signing in to the console in a real browser (Debian's Chromium) with a one-time link, as ``make run`` will
print one, and signing out again. The api is a real process (with a fake Rasa) on a loopback address."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import psycopg
from playwright.async_api import Page, expect
from psycopg.rows import dict_row

from api.auth import service as people
from api.auth.models import Role, UserCreate
from api.settings import Settings
from api.web.signin import links

Shot = Callable[[Page, str], Awaitable[Path]]


async def test_an_agent_signs_in_by_link_sees_the_console_and_signs_out(
        page: Page, screenshot: Shot, widget_api: str, database_url: str) -> None:
    email = f"agent-{uuid.uuid4().hex[:8]}@example.com"
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
        agent = await people.create_user(conn, data=UserCreate(email=email, name="Ada Agent", role=Role.agent))
        token = await links.issue(conn, Settings(env="test", _env_file=None), user_id=agent.id)  # type: ignore[call-arg]

    await page.goto(f"{widget_api}/console")  # not signed in yet: the sign-in page, which comes back here
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert page.url.endswith("/signin?next=%2Fconsole")

    await page.goto(links.url(widget_api, token))
    await expect(page.get_by_role("heading", name="Agent console")).to_be_visible()
    await expect(page.locator("#who")).to_have_text(email)
    cookies = {c["name"]: c for c in await page.context.cookies()}
    assert cookies["deskmate-session"]["httpOnly"] and cookies["deskmate-session"]["sameSite"] == "Lax"
    await screenshot(page, "console-signed-in")

    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await page.goto(f"{widget_api}/console")
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()  # the session really ended
