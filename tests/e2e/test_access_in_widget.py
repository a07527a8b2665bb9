"""Issue #11's access request, in a real browser against the real stack: the demo employee asks in the widget for
access to the Finance shared drive, picks the group from the catalogue the bot offers (the demo directory's
requestable groups), and is told it waits for their manager; the manager's approval e-mail arrives, its approve
link opens the confirm page in the browser and is confirmed; the real slapd then lists the employee in the group,
the run succeeded and was verified, its ticket is resolved ``auto`` and the admin API shows who approved.
Real processes: Rasa, the action server, the api, a workflow worker; chromium through Playwright.
"""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest
from e2e_support import bot_said, finished_run, open_chat, pick, stored
from fakes.smtp_sink import SmtpSink
from ldap3 import BASE
from playwright.async_api import Page, expect

from api.auth.models import Role

if TYPE_CHECKING:
    from conftest import Service, Stack

EMPLOYEE, MANAGER, MANAGER_NAME = "jordan.blake@example.com", "casey.morgan@example.com", "Casey Morgan"
GROUP = "finance-share"  # data/demo/directory.yml: requestable, jordan.blake is not a member


def approval_mail(mail: SmtpSink, to: str, *, timeout_s: float = 60) -> str:
    """The text of the first approval e-mail to ``to`` for an access request (waiting up to ``timeout_s`` for it;
    the session's other tests may have asked the same manager for something else)."""
    def found() -> list[str]:
        return [r.message.get_content() for r in mail.sink.received
                if to in r.rcpt_tos and r.message["Subject"].startswith("Approval needed: Access request")]
    with mail.sink.changed:
        assert mail.sink.changed.wait_for(found, timeout=timeout_s), f"no approval e-mail to {to}"
    return found()[0]


def members(directory: Any, group_dn: str) -> list[str]:  # the session's Slapd
    admin = directory.admin()
    try:
        admin.search(group_dn, "(objectClass=*)", BASE, attributes=["member"])
        return [str(m).lower() for m in admin.entries[0].member.values]
    finally:
        admin.unbind()


@pytest.mark.e2e
async def test_an_employee_gets_access_to_a_group_after_their_manager_approves_by_e_mail(
        page: Page, screenshot, real_processes: Stack, workflow_worker: Service,  # type: ignore[no-untyped-def]
        conn: psycopg.AsyncConnection, make_actor) -> None:
    directory, mail = real_processes.directory, real_processes.mail
    group_dn, jordan = f"cn={GROUP},{directory.layout.requestable}", directory.layout.person("jordan.blake")
    assert jordan.lower() not in members(directory, group_dn), "the demo directory starts without the membership"
    await open_chat(page, real_processes.api)

    await pick(page, "I need access to the finance share", GROUP)
    await expect(bot_said(page, "to approve your access")).to_have_text(re.compile(
        rf"I've asked {MANAGER_NAME} to approve your access to {GROUP} \(REQ-\d+\)\. "
        r"You'll see their decision in your notifications and on the ticket\."), timeout=60_000)
    await screenshot(page, "real-bot-access-waiting")

    text = await asyncio.to_thread(approval_mail, mail, MANAGER)
    link = urlsplit(re.search(r"^Approve: (\S+)", text, re.MULTILINE).group(1))  # type: ignore[union-attr]
    approver = await page.context.new_page()
    await approver.goto(f"{real_processes.api}{link.path}?{link.query}")
    await expect(approver.get_by_role("heading")).to_contain_text("Approve: Access request: jordan.blake")
    await approver.get_by_role("button", name="Approve").click()
    await expect(approver.locator("body")).to_contain_text("approved", timeout=30_000)

    conversation = (await stored(page))["conversationId"]
    row = await (await conn.execute("SELECT id FROM workflow_runs WHERE conversation_id = %s AND workflow = %s",
                                    (conversation, "access_request"))).fetchone()
    assert row is not None, "the conversation started an access_request run"
    admin = await make_actor(Role.admin)
    async with httpx.AsyncClient(base_url=real_processes.api, headers=admin.headers) as api:
        run = await finished_run(api, row["id"])
        ticket = (await api.get(f"/api/v1/tickets/{run['ticket_id']}")).raise_for_status().json()

    assert jordan.lower() in members(directory, group_dn), "the real directory should list the employee"
    assert (run["status"], run["verified"], run["inputs"]) == (
        "succeeded", True, {"username": "jordan.blake", "group_dn": group_dn})
    [approval] = run["approvals"]
    assert (approval["status"], approval["decided_by"], approval["decided_via"]) == ("approved", MANAGER, "link")
    assert (ticket["status"], ticket["resolution"], ticket["source_type"]) == ("resolved", "auto", "CHATBOT")
