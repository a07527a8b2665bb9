"""Issue #11's software request, in a real browser against the real stack: the demo employee asks in the widget for
Tableau, picks it from the software catalogue the bot offers, and is told their manager (from the demo directory)
must approve it first; once approved, the run's ticket is with the team that installs it, open for a person.
Real processes: Rasa, the action server, the api, a workflow worker; chromium through Playwright.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import httpx
import psycopg
import pytest
from e2e_support import bot_said, finished_run, open_chat, pick, stored
from playwright.async_api import Page, expect

from api.auth.models import Role

if TYPE_CHECKING:
    from conftest import Service, Stack

MANAGER_NAME = "Casey Morgan"  # data/demo/directory.yml: jordan.blake's manager


@pytest.mark.e2e
async def test_an_employee_asks_for_software_and_after_approval_it_is_with_the_team_that_installs_it(
        page: Page, screenshot, real_processes: Stack, workflow_worker: Service,  # type: ignore[no-untyped-def]
        conn: psycopg.AsyncConnection, make_actor) -> None:
    await open_chat(page, real_processes.api)

    await pick(page, "I need Tableau installed", "Tableau Desktop")
    await expect(bot_said(page, "needs your manager's approval")).to_have_text(re.compile(
        rf"Tableau Desktop needs your manager's approval first: I've asked {MANAGER_NAME} \(REQ-\d+\)\. Once they "
        r"approve, it goes to the Business Applications team to install\. .*"), timeout=60_000)
    await screenshot(page, "real-bot-software-waiting")

    conversation = (await stored(page))["conversationId"]
    row = await (await conn.execute("SELECT id FROM workflow_runs WHERE conversation_id = %s AND workflow = %s",
                                    (conversation, "software_request"))).fetchone()
    assert row is not None, "the conversation started a software_request run"
    admin = await make_actor(Role.admin)
    async with httpx.AsyncClient(base_url=real_processes.api, headers=admin.headers) as api:
        waiting = (await api.get(f"/api/v1/workflows/runs/{row['id']}")).raise_for_status().json()
        [pending] = waiting["approvals"]
        (await api.post(f"/api/v1/workflows/approvals/{pending['id']}/decision",
                        json={"decision": "approve"})).raise_for_status()
        run = await finished_run(api, row["id"])
        ticket = (await api.get(f"/api/v1/tickets/{run['ticket_id']}")).raise_for_status().json()

    assert (run["status"], run["inputs"]) == ("succeeded", {"item": "tableau"})
    assert run["results"]["fulfil"] == {"action": "assign", "team": "applications"}
    assert (ticket["team"], ticket["status"], ticket["resolution"], ticket["source_type"]) == (
        "applications", "new", None, "CHATBOT")
