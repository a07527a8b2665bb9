"""axe-core (package.json, installed by ``npm ci``) on each page people use, in headless Chromium against the api with
a fake Rasa: no serious or critical violation, the widget's shadow root included. The demo page and the widget are
also held to no moderate one (the demo page is what an intranet copies)."""

from __future__ import annotations

import uuid

import psycopg
from e2e_support import assert_accessible, bot_said, open_chat, say
from playwright.async_api import Page, expect
from psycopg.rows import dict_row

from api.auth import service as people
from api.auth.models import Role, TeamCreate, UserCreate
from api.settings import Settings
from api.tickets import service as tickets
from api.tickets.models import CommentCreate, TicketCreate
from api.web.signin import links
from tests.analytics.analytics_support import seed_tickets

MODERATE_AND_UP = ("moderate", "serious", "critical")


async def _signed_in(page: Page, base_url: str, database_url: str, *, role: Role, team: str | None = None) -> int:
    """A new person with ``role`` (in ``team``, when given) signed in by link in ``page``; returns their id."""
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
        user = await people.create_user(conn, data=UserCreate(
            email=f"a11y-{uuid.uuid4().hex[:8]}@example.com", name="Alex Able", role=role,
            team_slugs=[team] if team else []))
        token = await links.issue(conn, Settings(env="test", _env_file=None), user_id=user.id)  # type: ignore[call-arg]
    await page.goto(links.url(base_url, token))
    await expect(page.locator("#main")).to_be_visible()
    return user.id


async def test_the_demo_page_with_the_widget_closed(page: Page, widget_api: str) -> None:
    await page.goto(widget_api + "/")
    await expect(page.locator(".launcher")).to_be_visible()
    await assert_accessible(page, impact=MODERATE_AND_UP)


async def test_the_open_widget_with_buttons_and_a_cited_answer(page: Page, widget_api: str) -> None:
    await open_chat(page, widget_api)
    for turn in range(1, 3):  # two rounds: enough for the conversation to scroll
        await say(page, "hello")
        await expect(page.locator(".quick-reply")).to_have_text(["Yes, it did", "No"])
        await say(page, "show me links")
        await expect(bot_said(page, "The VPN guide is at")).to_have_count(turn)
    await expect(page.locator(".citations a").last).to_contain_text("Connecting to the VPN")
    assert await page.locator(".log").evaluate("log => log.scrollHeight > log.clientHeight"), "the log scrolls"
    await assert_accessible(page, impact=MODERATE_AND_UP)
    checked = await page.evaluate("() => axe.run(document, {preload: false, runOnly: ['button-name']})"
                                  ".then(r => r.passes.flatMap(rule => rule.nodes.map(node => node.target)))")
    assert [["#deskmate-widget", ".send"]] in checked, "axe reads the widget's shadow root"


async def test_the_sign_in_page(page: Page, widget_api: str) -> None:
    await page.goto(f"{widget_api}/signin?next=%2Fconsole")
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await assert_accessible(page)


async def _ticket(database_url: str, *, team: str, agent_id: int) -> str:
    """A ticket in ``team`` from a new employee, with the agent's comment; returns its number."""
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
        employee = await people.create_user(conn, data=UserCreate(
            email=f"emp-{uuid.uuid4().hex[:8]}@example.com", name="Eve Employee", role=Role.employee))
        staff = await people.principal_by_id(conn, user_id=agent_id)
        ticket, _ = await tickets.create(conn, principal=staff, data=TicketCreate(
            title="Monitor flickers", description="The second monitor flickers.", team=team,
            requester_id=employee.id))
        await tickets.add_comment(conn, principal=staff, ref=ticket.id, data=CommentCreate(body="Which cable?"))
        return ticket.number


async def test_the_console_queue_and_ticket_pages(page: Page, widget_api: str, database_url: str) -> None:
    team = f"a11y-{uuid.uuid4().hex[:8]}"
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
        await people.create_team(conn, data=TeamCreate(slug=team, name=f"Desk {team}"))
    agent_id = await _signed_in(page, widget_api, database_url, role=Role.agent, team=team)
    number = await _ticket(database_url, team=team, agent_id=agent_id)
    await page.goto(f"{widget_api}/console?queue=teams")
    await expect(page.locator(f'tr[data-ticket="{number}"]')).to_be_visible()
    await assert_accessible(page)

    await page.goto(f"{widget_api}/console/tickets/{number}")
    await expect(page.get_by_role("heading", name=f"{number}: Monitor flickers")).to_be_visible()
    await assert_accessible(page)


async def test_the_analytics_page(page: Page, widget_api: str, database_url: str) -> None:
    agent_id = await _signed_in(page, widget_api, database_url, role=Role.agent)
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
        employee = await people.create_user(conn, data=UserCreate(
            email=f"emp-{uuid.uuid4().hex[:8]}@example.com", name="Eve Employee", role=Role.employee))
        seeded = await seed_tickets(conn, requester_id=employee.id, agent_id=agent_id)
    await page.goto(f"{widget_api}/console/analytics?from=2019-03-04&to=2019-03-17&team={seeded.team}")
    await expect(page.locator("#volume-chart canvas")).to_have_attribute("data-points", "14")
    await page.wait_for_function("() => Chart.getChart(document.querySelector('#volume-chart canvas'))")
    await assert_accessible(page)


async def test_the_portal_page_of_an_employee(page: Page, widget_api: str, database_url: str) -> None:
    user_id = await _signed_in(page, widget_api, database_url, role=Role.employee)
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
        employee = await people.principal_by_id(conn, user_id=user_id)
        await tickets.create(conn, principal=employee, data=TicketCreate(title="Docking station shows no picture"))
    await page.goto(f"{widget_api}/me")
    await expect(page.get_by_role("link", name="Docking station shows no picture")).to_be_visible()
    widget = page.locator("#deskmate-widget")  # strict: the page has one element with this id, the widget's host
    await expect(widget).to_have_js_property("tagName", "DIV")
    await assert_accessible(page)
