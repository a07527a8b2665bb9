"""The analytics page in a real browser (Debian's Chromium): signed in by link, the seeded history is drawn."""

from __future__ import annotations

import re
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
# What Chart.js drew on a canvas: the labels, points (bars, arcs) per dataset, the first dataset's x positions, the
# plot's width and how many pixels are not transparent.
DRAWN = """canvas => {
  const chart = Chart.getChart(canvas);
  const metas = chart.data.datasets.map((_, i) => chart.getDatasetMeta(i));
  const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let painted = 0;
  for (let i = 3; i < pixels.length; i += 4) if (pixels[i]) painted++;
  return {labels: chart.data.labels, points: metas.map(m => m.data.length), xs: metas[0].data.map(p => p.x),
          width: chart.chartArea.right - chart.chartArea.left, painted};
}"""


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

    volume = page.locator("#volume-chart canvas")
    await expect(volume).to_have_attribute("data-points", "14")
    drawn = await volume.evaluate(DRAWN)
    assert drawn["points"] == [14, 14, 14]  # stacked by source (CHATBOT, EMAIL, WEB): a bar per day each
    assert drawn["xs"] == sorted(drawn["xs"]) and drawn["width"] > 100  # laid out left to right
    assert drawn["painted"] > 1000  # pixels really drawn on the canvas
    assert (await page.locator("#backlog-chart canvas").evaluate(DRAWN))["points"] == [14]
    source = await page.locator("#source-chart canvas").evaluate(DRAWN)
    assert (source["labels"], source["points"]) == (["CHATBOT", "EMAIL", "WEB"], [3])  # a doughnut of three
    await expect(page.get_by_role("img", name=re.compile(r"^Tickets created: 4 in all over 14 days"))).to_be_visible()
    await screenshot(page, "console-analytics")

    await page.get_by_label("Per", exact=True).select_option("week")
    await page.get_by_role("button", name="Show").click()
    await expect(page.locator("#volume-chart canvas")).to_have_attribute("data-points", "2")
    assert (await page.locator("#volume-chart canvas").evaluate(DRAWN))["points"] == [2, 2, 2]
