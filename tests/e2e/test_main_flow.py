"""The whole loop of issue #14 in two real browsers against the real stack (Rasa server, action server, api):

an employee opens a ticket in the widget through the bot → triage routes it to an agent → the agent signs in by
link, finds it in "Mine", replies and resolves it → the reply and then the satisfaction question arrive in the
employee's open widget → the employee rates it 4 → the agent's analytics page counts that rating.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from e2e_support import TICKET_NUMBER, bot_said, last_bot, open_chat, say
from fakes.triage import worker_settings
from playwright.async_api import Browser, Page, expect

from api.alerts import delivery
from api.auth.models import Role
from api.csat import send
from api.kb.embedding import get_embedder
from api.routing import rules as routing
from api.routing.models import RuleIn
from api.settings import Settings
from api.triage import pipeline
from api.web.signin import links

Shot = Callable[[Page, str], Awaitable[Path]]


@pytest.mark.e2e
async def test_a_ticket_from_the_widget_is_worked_in_the_console_rated_in_the_widget_and_counted(  # type: ignore[no-untyped-def]
        page: Page, browser: Browser, screenshot: Shot, real_stack: str, settings, conn, make_actor,
        make_team) -> None:
    word = f"dock{uuid.uuid4().hex[:8]}"
    team = await make_team()
    agent = (await make_actor(Role.agent, teams=(team,))).user
    await routing.create_rule(conn, data=RuleIn(name=f"to {team}", position=1, team=team,
                                                conditions={"keywords": [word]}))

    # the employee, in the widget, with the real bot
    await page.clock.install()
    await open_chat(page, real_stack)
    await say(page, "I want to open a ticket")
    await expect(last_bot(page)).to_contain_text("what's the problem", timeout=30_000)
    await say(page, f"Docking station {word} drops the network")
    await expect(last_bot(page)).to_contain_text("describe it in a bit more detail")
    await say(page, "Every hour or so the wired network goes away until I unplug the dock and plug it in again.")
    await expect(last_bot(page)).to_contain_text("How urgent is it?")
    await page.get_by_role("button", name="Medium").click()
    await page.get_by_role("button", name="Yes, submit").click()
    await expect(last_bot(page)).to_contain_text(TICKET_NUMBER, timeout=30_000)
    number = TICKET_NUMBER.search(await last_bot(page).inner_text()).group(0)  # type: ignore[union-attr]
    await work(conn, settings, number)  # triage routes it to the agent

    # the agent, in a browser of their own
    context = await browser.new_context()
    try:
        console = await context.new_page()
        token = await links.issue(conn, Settings(env="test", _env_file=None), user_id=agent.id)  # type: ignore[call-arg]
        await console.goto(links.url(real_stack, token))
        await expect(console.get_by_role("heading", name="Agent console")).to_be_visible()
        await console.get_by_role("link", name="Mine").click()
        await expect(console.locator(f'tr[data-ticket="{number}"]')).to_be_visible()
        await console.keyboard.press("j")
        await console.keyboard.press("Enter")
        await expect(console.get_by_role("heading", name=f"{number}: Docking station {word} drops the network")
                     ).to_be_visible()
        await expect(console.locator("#assignee")).to_have_text(agent.name)
        await console.keyboard.press("r")
        await console.keyboard.type("A new dock is on its way; the old one had a firmware fault.")
        await console.get_by_role("button", name="Send").click()
        await expect(console.get_by_role("status")).to_have_text("Reply sent.")
        await console.get_by_label("Move to").select_option("resolved")
        await console.get_by_role("button", name="Change status").click()
        await expect(console.locator("#status")).to_have_text("resolved")
        await screenshot(console, "main-flow-resolved")

        # back in the employee's widget: the reply, then the survey the worker sends after the resolution
        await work(conn, settings, number)
        await page.clock.fast_forward(16_000)
        await expect(bot_said(page, "A new dock is on its way")).to_have_count(1, timeout=30_000)
        survey = await (await conn.execute("SELECT s.id FROM csat_surveys s JOIN tickets t ON t.id = s.ticket_id "
                                           "WHERE t.number = %s", (number,))).fetchone()
        assert await send.send_survey(conn, worker_settings(settings), survey_id=survey["id"]) == "sent"
        await page.clock.fast_forward(16_000)
        await expect(bot_said(page, "How satisfied are you")).to_have_count(1, timeout=30_000)
        await page.get_by_role("button", name="4", exact=True).click()
        await expect(last_bot(page)).to_contain_text(f"Thank you for rating {number}: 4 out of 5", timeout=30_000)
        await screenshot(page, "main-flow-rated")

        # the agent's analytics, for the team: this one rating, by a person
        await console.goto(f"{real_stack}/console/analytics?team={team}")
        await expect(console.get_by_text("satisfaction, resolved by a person (1 answers)")).to_be_visible()
        await expect(console.locator("p", has_text="resolved by a person").locator("strong")).to_have_text("4.0")
        await screenshot(console, "main-flow-analytics")
    finally:
        await context.close()


async def work(conn, settings: Settings, number: str) -> None:  # type: ignore[no-untyped-def]
    """What the worker does for this ticket (not for the session's other queued jobs): triage of its events, then
    the deliveries to the channel it came from."""
    ticket = await (await conn.execute("SELECT id FROM tickets WHERE number = %s", (number,))).fetchone()
    worker = worker_settings(settings)
    await pipeline.process_ticket(conn, ticket_id=ticket["id"], settings=worker, embedder=get_embedder(settings))
    waiting = await (await conn.execute("SELECT id FROM alert_deliveries WHERE ticket_id = %s AND channel = 'ORIGIN' "
                                        "AND status = 'pending' ORDER BY id", (ticket["id"],))).fetchall()
    assert [await delivery.deliver(conn, delivery_id=d["id"], settings=worker) for d in waiting] == ["sent"] * len(waiting)
