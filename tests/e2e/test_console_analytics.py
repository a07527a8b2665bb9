"""The analytics page in a real browser (Debian's Chromium): signed in by link, the seeded history is drawn."""

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
from tests.analytics.analytics_support import seed_tickets

Shot = Callable[[Page, str], Awaitable[Path]]


async def test_the_analytics_page_draws_the_seeded_volume_and_backlog(
        page: Page, screenshot: Shot, widget_api: str, database_url: str) -> None:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
        agent = await people.create_user(conn, data=UserCreate(
            email=f"agent-{uuid.uuid4().hex[:8]}@example.com", name="Ada Agent", role=Role.agent))
        employee = await people.create_user(conn, data=UserCreate(
            email=f"emp-{uuid.uuid4().hex[:8]}@example.com", name="Eve Employee", role=Role.employee))
        seeded = await seed_tickets(conn, requester_id=employee.id, agent_id=agent.id)
        token = await links.issue(conn, Settings(env="test", _env_file=None), user_id=agent.id)  # type: ignore[call-arg]

    await page.goto(links.url(widget_api, token))
    await expect(page.get_by_role("heading", name="Agent console")).to_be_visible()
    await page.goto(f"{widget_api}/console/analytics?from=2019-03-04&to=2019-03-17&team={seeded.team}")
    await expect(page.get_by_role("heading", name="Analytics")).to_be_visible()

    volume = page.locator("#volume-chart svg")
    await expect(volume).to_have_attribute("data-points", "14")
    await expect(volume.locator("circle.point")).to_have_count(14)
    assert await volume.locator("polyline").evaluate("p => p.points.numberOfItems") == 14
    assert await volume.locator("polyline").evaluate("p => p.getBBox().width") > 100  # really laid out
    await expect(page.locator("#backlog-chart svg circle.point")).to_have_count(14)
    await expect(page.locator("#source-chart svg rect")).to_have_count(3)  # CHATBOT, EMAIL, WEB
    await expect(page.get_by_role("img", name="Tickets created")).to_be_visible()
    await screenshot(page, "console-analytics")

    await page.get_by_label("Per", exact=True).select_option("week")
    await page.get_by_role("button", name="Show").click()
    await expect(page.locator("#volume-chart svg")).to_have_attribute("data-points", "2")
