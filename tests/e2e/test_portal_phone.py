"""The employee portal on a phone (Debian's Chromium at 360×740): sign in by link, open a ticket, reply and see
the reply; the page fits the screen, the app-shell service worker installs, and the widget opens signed in and
starts its conversation as a mobile one (its tickets carry source MOBILE)."""

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
from api.tickets import service as tickets
from api.tickets.models import CommentCreate, TicketCreate
from api.web.signin import links

Shot = Callable[[Page, str], Awaitable[Path]]
PHONE = {"width": 360, "height": 740}


async def test_an_employee_replies_to_a_ticket_and_chats_from_a_phone(
        page: Page, screenshot: Shot, widget_api: str, database_url: str) -> None:
    email = f"riley-{uuid.uuid4().hex[:8]}@example.com"
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
        user = await people.create_user(conn, data=UserCreate(email=email, name="Riley Park", role=Role.employee))
        admin = await people.create_user(conn, data=UserCreate(email=f"desk-{uuid.uuid4().hex[:8]}@example.com",
                                                               name="Desk Admin", role=Role.admin))
        employee = await people.principal_by_id(conn, user_id=user.id)
        ticket, _ = await tickets.create(conn, principal=employee, data=TicketCreate(
            title="Docking station shows no picture on the second screen"))
        await tickets.add_comment(conn, principal=await people.principal_by_id(conn, user_id=admin.id),
                                  ref=ticket.id, data=CommentCreate(body="Which docking station model is it?"))
        token = await links.issue(conn, Settings(env="test", _env_file=None), user_id=user.id)  # type: ignore[call-arg]

    await page.set_viewport_size(PHONE)
    await page.goto(links.url(widget_api, token))
    await expect(page.get_by_role("heading", name="My requests")).to_be_visible()
    await expect(page.locator("#who")).to_have_text(email)
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], "no sideways scrolling"
    scope = await page.evaluate("""Promise.race([
        navigator.serviceWorker.ready.then(r => r.scope),
        new Promise(resolve => setTimeout(() => resolve('no service worker within 10 s'), 10000))])""")
    assert scope == f"{widget_api}/me"
    await screenshot(page, "portal-phone-list")

    await page.get_by_role("link", name=ticket.title).click()
    await expect(page.get_by_role("heading", name=ticket.title)).to_be_visible()
    await expect(page.locator(".comment")).to_have_count(1)
    await page.get_by_label("Your reply").fill("A Dell WD19; the first screen works.")
    await page.get_by_role("button", name="Send reply").click()
    await expect(page.locator(".comment.mine .body")).to_have_text("A Dell WD19; the first screen works.")
    assert f"/me/tickets/{ticket.number}#comment-" in page.url
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    await screenshot(page, "portal-phone-ticket")

    await page.locator(".launcher").click()
    await expect(page.locator(".panel")).to_be_visible()
    await expect(page.locator(".msg-bot .bubble").first).to_contain_text("Hi Riley!")
    await screenshot(page, "portal-phone-widget")
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
        rows = await (await conn.execute("SELECT client FROM chat_conversations WHERE employee_id = %s",
                                         (user.id,))).fetchall()
    assert rows == [{"client": "mobile"}]
