"""Issue #11's "done when", in a real browser against the real stack: the demo employee says "I'm locked out of my
account" in the widget, types the code that was e-mailed to them, and the demo directory (a real slapd) lets them in
again; the run's ticket is resolved ``auto`` and verified, and the code is in neither Rasa's tracker store nor the
transcript. Real processes: Rasa, the action server, the api, a workflow worker; chromium through Playwright.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import psycopg
import pytest
from e2e_support import RASA_TEST_DB, bot_said, open_chat, say, stored
from fakes.smtp_sink import SmtpSink
from playwright.async_api import Page, expect

from api.auth.models import Role
from api.stepup.delivery import SUBJECT

if TYPE_CHECKING:
    from conftest import Service, Stack

Shot = Callable[[Page, str], Awaitable[Path]]
EMPLOYEE, USERNAME, PASSWORD = "jordan.blake@example.com", "jordan.blake", "Demo-Passw0rd"  # data/demo/directory.yml


def codes_sent(mail: SmtpSink, to: str) -> list[str]:
    """The step-up codes e-mailed to ``to`` so far, oldest first."""
    found = [re.search(r"\b(\d{6})\b", r.message.get_content()) for r in mail.sink.received
             if to in r.rcpt_tos and r.message["Subject"] == SUBJECT]
    return [m.group(1) for m in found if m]


async def next_code(mail: SmtpSink, to: str, *, after: int, timeout_s: float = 30) -> str:
    """Waits (up to ``timeout_s``) for a code e-mailed to ``to`` beyond the first ``after``; returns it."""
    def arrived() -> bool:
        with mail.sink.changed:
            return mail.sink.changed.wait_for(lambda: len(codes_sent(mail, to)) > after, timeout=timeout_s)
    assert await asyncio.to_thread(arrived), f"no step-up code was e-mailed to {to}"
    return codes_sent(mail, to)[after]


async def tracker_rows(pg_server: str, conversation_id: str) -> list[str]:
    """The raw event rows Rasa's SQL tracker store holds for the conversation."""
    url = pg_server.replace("/postgres?", f"/{RASA_TEST_DB}?")
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        rows = await (await conn.execute("SELECT data FROM events WHERE sender_id = %s ORDER BY id",
                                         (conversation_id,))).fetchall()
    return [row[0] for row in rows]


@pytest.mark.e2e
async def test_a_locked_out_employee_unlocks_their_account_through_the_widget(
        page: Page, screenshot: Shot, real_processes: Stack, workflow_worker: Service, pg_server: str,
        conn: psycopg.AsyncConnection, make_actor) -> None:  # type: ignore[no-untyped-def]
    directory, mail = real_processes.directory, real_processes.mail
    jordan = directory.layout.person(USERNAME)
    assert not directory.bind(jordan, PASSWORD), "the demo directory starts with the account locked"
    await open_chat(page, real_processes.api)

    await say(page, "I'm locked out of my account")
    await expect(bot_said(page, "I can unlock your account right now")).to_be_visible(timeout=30_000)
    await expect(bot_said(page, "Which account is it?")).to_be_visible()
    before = len(codes_sent(mail, EMPLOYEE))
    await say(page, USERNAME)
    await expect(bot_said(page, "Type the code here")).to_contain_text("jo•••@example.com", timeout=30_000)
    code = await next_code(mail, EMPLOYEE, after=before)
    await say(page, f"{code[:3]} {code[3:]}")

    await expect(bot_said(page, "Can you sign in now?")).to_have_text(
        f"Done: your account {USERNAME} is unlocked. Can you sign in now?", timeout=60_000)
    await screenshot(page, "real-bot-unlock")
    await page.get_by_role("button", name="Yes, it works").click()
    await expect(bot_said(page, "glad it's sorted")).to_be_visible(timeout=30_000)

    assert directory.bind(jordan, PASSWORD), "the real directory should let the employee sign in again"
    conversation = (await stored(page))["conversationId"]
    run_row = await (await conn.execute("SELECT id FROM workflow_runs WHERE conversation_id = %s",
                                        (conversation,))).fetchone()
    assert run_row is not None, "the conversation started a workflow run"
    admin = await make_actor(Role.admin)
    async with httpx.AsyncClient(base_url=real_processes.api, headers=admin.headers) as api:
        run = (await api.get(f"/api/v1/workflows/runs/{run_row['id']}")).raise_for_status().json()
        ticket = (await api.get(f"/api/v1/tickets/{run['ticket_id']}")).raise_for_status().json()
        events = (await api.get(f"/api/v1/tickets/{run['ticket_id']}/events")).raise_for_status().json()
    assert (run["workflow"], run["status"], run["verified"]) == ("account_unlock", "succeeded", True)
    assert (ticket["status"], ticket["resolution"], ticket["source_type"]) == ("resolved", "auto", "CHATBOT")
    steps = [(e["after"]["step"], e["after"]["status"]) for e in events if e["kind"] == "workflow_step"]
    assert [s for s in steps if s[1] == "succeeded"] == [
        ("username", "succeeded"), ("find", "succeeded"), ("known", "succeeded"), ("step_up", "succeeded"),
        ("unlock", "succeeded"), ("verify", "succeeded"), ("resolve", "succeeded")]

    typed = re.compile(rf"{code[:3]}[ -]?{code[3:]}")  # the code as it could have been stored
    tracker = await tracker_rows(pg_server, conversation)
    assert any('"stepup_passed"' in row for row in tracker), "the tracker rows were read (Rasa got the outcome)"
    assert not [row for row in tracker if typed.search(row)]
    transcript = await (await conn.execute("SELECT direction, text, payload::text AS payload FROM chat_messages "
                                           "WHERE conversation_id = %s ORDER BY id", (conversation,))).fetchall()
    assert "•••••• (verification code)" in [m["text"] for m in transcript if m["direction"] == "user"]
    assert not [m for m in transcript if typed.search(m["text"] + m["payload"])]
