"""The agent's main flow in a real browser (Debian's Chromium): sign in by link → the team's queue → open the
ticket with the keyboard (j, Enter) → reply → resolve. The api is a real process on a loopback address."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import psycopg
from playwright.async_api import Page, expect
from psycopg.rows import dict_row

from api.auth import service as people
from api.auth.models import Role, TeamCreate, UserCreate
from api.settings import Settings
from api.tickets import service as tickets
from api.tickets.models import TicketCreate
from api.web.signin import links

Shot = Callable[[Page, str], Awaitable[Path]]


async def test_an_agent_works_a_ticket_from_the_queue_to_resolved(
        page: Page, screenshot: Shot, widget_api: str, database_url: str) -> None:
    tag = uuid.uuid4().hex[:8]
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
        await people.create_team(conn, data=TeamCreate(slug=f"desk-{tag}", name=f"Desk {tag}"))
        agent = await people.create_user(conn, data=UserCreate(email=f"agent-{tag}@example.com", name="Ada Agent",
                                                               role=Role.agent, team_slugs=[f"desk-{tag}"]))
        employee = await people.create_user(conn, data=UserCreate(email=f"emp-{tag}@example.com", name="Eve Employee",
                                                                  role=Role.employee))
        staff = await people.principal_by_id(conn, user_id=agent.id)
        ticket, _ = await tickets.create(conn, principal=staff, data=TicketCreate(
            title=f"Monitor flickers {tag}", description="The second monitor flickers. It started today.",
            team=f"desk-{tag}", requester_id=employee.id))
        token = await links.issue(conn, Settings(env="test", _env_file=None), user_id=agent.id)  # type: ignore[call-arg]

    await page.goto(links.url(widget_api, token))
    await expect(page.get_by_role("heading", name="Agent console")).to_be_visible()
    await page.get_by_role("link", name="My teams'").click()
    await expect(page.get_by_role("cell", name=f"Monitor flickers {tag}")).to_be_visible()
    await screenshot(page, "console-queue")

    await page.keyboard.press("j")
    await expect(page.locator(f'tr[data-ticket="{ticket.number}"]')).to_have_class("selected")
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name=f"{ticket.number}: Monitor flickers {tag}")).to_be_visible()
    await expect(page.locator("#summary")).to_have_text("The second monitor flickers. It started today.")

    await page.keyboard.press("a")  # assign to me
    await expect(page.get_by_role("status")).to_have_text("Assignment changed.")
    await expect(page.locator("#assignee")).to_have_text("Ada Agent")

    await page.keyboard.press("?")
    await expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_visible()
    await page.get_by_role("button", name="Close").click()

    await page.keyboard.press("r")
    await expect(page.get_by_label("Reply")).to_be_focused()
    await page.keyboard.type("Please try another cable; I am sending one.")
    await page.get_by_role("button", name="Send").click()
    await expect(page.get_by_role("status")).to_have_text("Reply sent.")
    await expect(page.get_by_text("Please try another cable; I am sending one.")).to_be_visible()

    await page.get_by_label("Move to").select_option("resolved")
    await page.get_by_role("button", name="Change status").click()
    await expect(page.get_by_role("status")).to_have_text("Status changed.")
    await expect(page.locator("#status")).to_have_text("resolved")
    await screenshot(page, "console-ticket-resolved")
