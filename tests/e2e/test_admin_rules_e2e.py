"""An admin in a real browser (Debian's Chromium): sign in by link → Admin → Routing rules → create a rule through
the form → dry-run a sample ticket and see that rule chosen, with the decision's one-line reason. The api is a real
process on a loopback address."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import psycopg
from playwright.async_api import Page, expect
from psycopg.rows import dict_row

from api.auth import service as people
from api.auth.models import Role, TeamCreate, UserCreate
from api.routing import rules
from api.settings import Settings
from api.web.signin import links

Shot = Callable[[Page, str], Awaitable[Path]]


async def test_an_admin_creates_a_routing_rule_and_dry_runs_a_ticket(
        page: Page, screenshot: Shot, widget_api: str, database_url: str) -> None:
    tag = uuid.uuid4().hex[:8]
    team, word = f"printers-{tag}", f"plotter{tag}"
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
        await people.create_team(conn, data=TeamCreate(slug=team, name=f"Printers {tag}"))
        await people.create_user(conn, data=UserCreate(email=f"pat-{tag}@example.com", name="Pat Printer",
                                                       role=Role.agent, team_slugs=[team]))
        admin = await people.create_user(conn, data=UserCreate(email=f"admin-{tag}@example.com", name="Ada Admin",
                                                               role=Role.admin))
        token = await links.issue(conn, Settings(env="test", _env_file=None), user_id=admin.id)  # type: ignore[call-arg]

    try:
        await page.goto(links.url(widget_api, token))
        await page.get_by_role("link", name="Admin", exact=True).click()
        await expect(page.get_by_role("heading", name="Admin")).to_be_visible()
        await page.get_by_role("main").get_by_role("link", name="Routing rules").first.click()
        await expect(page.get_by_role("heading", name="Routing rules")).to_be_visible()

        await page.get_by_label("Name").fill(f"Plotters {tag}")
        await page.get_by_label("Position").fill("0")
        await page.get_by_label("Team", exact=True).select_option(team)
        await page.get_by_label("Keywords").fill(word)
        await page.get_by_role("button", name="Create rule").click()
        await expect(page.get_by_role("status")).to_have_text("Routing rule created.")
        await expect(page.get_by_role("link", name=f"Plotters {tag}")).to_be_visible()

        await page.get_by_label("Title").fill(f"The {word} in room 4 prints blank pages")
        await page.get_by_label("Description").fill("Since this morning every page comes out blank.")
        await page.get_by_role("button", name="Run dry run").click()
        await expect(page.locator("#decision-rule")).to_have_text(f"Plotters {tag}")
        await expect(page.locator("#decision-team")).to_have_text(team)
        await expect(page.locator("#decision-reason")).to_contain_text(f"team by rule 'Plotters {tag}'")
        await expect(page.locator("#decision-agent")).to_have_text("Pat Printer")
        await expect(page.get_by_role("cell", name="Pat Printer")).to_be_visible()
        await expect(page.get_by_label("Title")).to_have_value(f"The {word} in room 4 prints blank pages")
        await page.locator("#decision").scroll_into_view_if_needed()
        await screenshot(page, "admin-routing-dry-run")
    finally:
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
            for rule in await rules.list_rules(conn):
                if rule.name == f"Plotters {tag}":
                    await rules.delete_rule(conn, rule_id=rule.id)
