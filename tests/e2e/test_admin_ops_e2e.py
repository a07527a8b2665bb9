"""An admin's alert flow in a real browser (Debian's Chromium): sign in by link → the alert rules → a new rule made
through the form (refused once, then fixed) → the rule's delivery history shows a delivery that failed → Retry queues it again. The api is a
real process; the worker that fires and delivers the alert runs here, against the same database."""

from __future__ import annotations

import json
import re
import socket
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import psycopg
from fakes.triage import drain, worker_settings
from playwright.async_api import Page, expect
from psycopg.rows import dict_row
from pydantic import SecretStr

from api.alerts import service as alerts
from api.auth import service as people
from api.auth.models import Role, TeamCreate, UserCreate
from api.integrations.smtp.settings import SmtpSettings
from api.routing import rules as routing
from api.routing.models import RuleIn
from api.settings import Settings
from api.tickets import service as tickets
from api.tickets.models import TicketCreate
from api.web.signin import links

Shot = Callable[[Page, str], Awaitable[Path]]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_an_admin_makes_an_alert_rule_and_redrives_its_failed_delivery(
        page: Page, screenshot: Shot, widget_api: str, database_url: str, settings: Settings) -> None:
    tag = uuid.uuid4().hex[:8]
    team, word, rule_name = f"ops-{tag}", f"plotter{tag}", f"Plotter alarms {tag}"
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
        await people.create_team(conn, data=TeamCreate(slug=team, name=f"Ops {tag}"))
        agent = await people.create_user(conn, data=UserCreate(email=f"agent-{tag}@example.com", name="Ann Agent",
                                                               role=Role.agent, team_slugs=[team]))
        await routing.create_rule(conn, data=RuleIn(name=f"to {team}", position=1, team=team,
                                                    conditions={"keywords": [word]}))
        admin = await people.create_user(conn, data=UserCreate(email=f"admin-{tag}@example.com", name="Ada Admin",
                                                               role=Role.admin))
        token = await links.issue(conn, Settings(env="test", _env_file=None), user_id=admin.id)  # type: ignore[call-arg]

    await page.goto(links.url(widget_api, token))
    await expect(page.get_by_role("heading", name="Agent console")).to_be_visible()
    await page.get_by_role("link", name="Alert rules").click()
    await expect(page.get_by_role("heading", name="Alert rules")).to_be_visible()
    await page.get_by_role("link", name="New alert rule").click()
    await page.get_by_label("Name", exact=True).fill(rule_name)
    await page.get_by_label("Conditions").fill(json.dumps({"teams": [team]}))
    await page.get_by_label("Channels").fill('[{"channel": "WEBHOOK"}]')
    await page.get_by_role("button", name="Create rule").click()  # refused: the field says why, the input stays
    await expect(page.locator("#channels-error")).to_contain_text("a WEBHOOK channel needs an http(s) url")
    await expect(page.get_by_label("Name", exact=True)).to_have_value(rule_name)
    await screenshot(page, "admin-alert-rule-refused")
    await page.get_by_label("Channels").fill(json.dumps([{"channel": "EMAIL", "recipients": [
        {"kind": "email", "address": f"oncall-{tag}@example.com"}]}]))
    await page.get_by_role("button", name="Create rule").click()
    await expect(page.get_by_role("status")).to_have_text("Alert rule created.")
    row = page.locator("tr[data-rule]", has_text=rule_name)
    await expect(row).to_contain_text("EMAIL")

    # a ticket for the team: the worker fires the rule and its mail fails (nothing listens on the SMTP port)
    worker = worker_settings(settings, alerts_max_attempts=1, smtp=SmtpSettings(
        host="127.0.0.1", port=_closed_port(), tls="none", user="desk", password=SecretStr("unused"),
        sender="desk@deskmate.test", _env_file=None))
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
        staff = await people.principal_by_id(conn, user_id=agent.id)
        ticket, _ = await tickets.create(conn, principal=staff, data=TicketCreate(
            title=f"The {word} on floor 2 is out of ink", requester_id=agent.id))
        await drain(worker, queues=["triage"])
        await drain(worker, queues=["alerts"])

    await row.get_by_role("link", name="Deliveries").click()
    await expect(page.get_by_role("heading", name="Alert delivery history")).to_be_visible()
    delivery = page.locator("tr[data-delivery]", has_text=ticket.number)
    await expect(delivery.locator(".delivery-status")).to_have_text(re.compile("^(failed|dead)$"))
    await screenshot(page, "admin-alert-failed-delivery")
    await delivery.get_by_role("button", name="Retry").click()
    await expect(page.get_by_role("status")).to_have_text("The delivery is queued again.")
    await expect(page.locator("tr[data-delivery]", has_text=ticket.number).locator(".delivery-status")
                 ).to_have_text("retrying")
    await screenshot(page, "admin-alert-redriven")

    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
        [rule] = [r for r in await alerts.list_rules(conn) if r.name == rule_name]
        [firing] = (await alerts.history(conn, principal=await people.principal_by_id(conn, user_id=admin.id),
                                         rule_id=rule.id)).items
        assert firing.deliveries[0].status == "retrying"
        await alerts.delete_rule(conn, rule_id=rule.id)
