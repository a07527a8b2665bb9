"""Constants and helpers shared by the e2e tests and their conftest (a module of its own: conftest names clash):
free ports, the channel secret, driving the widget in the browser, and axe-core's accessibility checks."""

from __future__ import annotations

import json
import os
import re
import socket
from pathlib import Path
from typing import Any

import httpx
from fakes.waiting import until
from playwright.async_api import Locator, Page, expect

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"  # package.json, npm ci
CHANNEL_SECRET = "e2e-channel-" + os.urandom(12).hex()  # DESKMATE_RASA_CHANNEL_SECRET of every api started here
METRICS_TOKEN = "e2e-metrics-" + os.urandom(12).hex()  # DESKMATE_METRICS_TOKEN of the api of the real processes
RASA_TEST_DB = "deskmate_test_rasa"  # the database of the real stack's Rasa tracker store
STORAGE_KEY = "deskmate.widget.v1"
TICKET_NUMBER = re.compile(r"\b(?:INC|REQ)-\d{6,}\b")


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---------- the widget ----------

async def open_chat(page: Page, base_url: str) -> None:
    """Loads the demo page and opens the widget with the mouse; waits for the greeting."""
    await page.goto(base_url + "/")
    await page.locator(".launcher").click()
    await expect(page.locator(".msg-bot .bubble").first).to_contain_text("I'm deskmate")


async def say(page: Page, text: str) -> None:
    await page.locator("textarea").fill(text)
    await page.locator("textarea").press("Enter")


def last_bot(page: Page) -> Locator:
    return page.locator(".msg-bot:not(.typing) .bubble").last


def bot_said(page: Page, text: str) -> Locator:
    """The bot's message(s) containing ``text`` (a turn may answer with several messages)."""
    return page.locator(".msg-bot:not(.typing) .bubble", has_text=text)


async def stored(page: Page) -> dict:  # type: ignore[type-arg]
    """What the widget keeps in sessionStorage: ``conversationId``, ``token``, …"""
    return json.loads(await page.evaluate(f"sessionStorage.getItem('{STORAGE_KEY}')") or "{}")


async def pick(page: Page, asked: str, button: str) -> None:
    """The employee types ``asked``, the bot offers a catalogue, and they click the button named ``button: …``."""
    await say(page, asked)
    await expect(bot_said(page, "Which one do you need?")).to_be_visible(timeout=30_000)
    choice = page.get_by_role("button", name=re.compile(f"^{re.escape(button)}: "))
    await expect(choice).to_be_visible()
    await choice.click()


async def active_element(page: Page) -> str:
    """Class of the focused element inside the widget's shadow root ('' when the focus is elsewhere)."""
    return await page.evaluate(
        "() => { const a = document.querySelector('#deskmate-widget').shadowRoot.activeElement;"
        " return a ? a.className : ''; }")


# ---------- waiting on conditions ----------

async def finished_run(api: httpx.AsyncClient, run_id: int, *, timeout_s: float = 60) -> dict[str, Any]:
    """The workflow run once it no longer runs or waits (``api``: an admin's client of the real api)."""
    async def finished() -> dict[str, Any] | None:
        run = (await api.get(f"/api/v1/workflows/runs/{run_id}")).raise_for_status().json()
        return run if run["status"] not in ("running", "waiting") else None
    return await until(finished, timeout_s=timeout_s, what=f"workflow run {run_id} finishes")


# ---------- accessibility (axe-core) ----------

async def axe_violations(page: Page, *, impact: tuple[str, ...] = ("serious", "critical")) -> list[dict[str, Any]]:
    """axe-core's violations on the page as it is now (open shadow roots, so the widget, included) whose impact is
    one of ``impact``. axe is evaluated through the DevTools protocol, not added as a <script>: the pages' CSP
    (script-src 'self') would refuse an inline script, and the product never loads axe itself. For the same reason
    axe does not preload the style sheets (it would copy them into <style> elements, which style-src 'self'
    refuses), so its one rule that reads them, css-orientation-lock, is left unchecked."""
    if not AXE.exists():
        raise RuntimeError(f"{AXE} is missing: run `npm ci` in the repository (package.json pins axe-core)")
    if not await page.evaluate("() => typeof window.axe === 'object'"):
        await page.evaluate(AXE.read_text())
    results = await page.evaluate("() => axe.run(document, {preload: false, resultTypes: ['violations']})")
    return [v for v in results["violations"] if v["impact"] in impact]


def describe_violations(violations: list[dict[str, Any]]) -> str:
    """One paragraph per violation: its rule, impact and help, and the target and summary of each node."""
    lines = []
    for v in violations:
        lines.append(f"{v['id']} ({v['impact']}): {v['help']} [{v['helpUrl']}]")
        lines += [f"    {node['target']}: {node['failureSummary']}".replace("\n", " ") for node in v["nodes"]]
    return "\n".join(lines)


async def assert_accessible(page: Page, *, impact: tuple[str, ...] = ("serious", "critical")) -> None:
    """Fails with axe-core's findings when the page has a violation of one of these impacts."""
    violations = await axe_violations(page, impact=impact)
    assert violations == [], "axe-core found accessibility violations:\n" + describe_violations(violations)
