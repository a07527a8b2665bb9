"""How the widget renders the bot's text (headless Chromium, the api with a fake Rasa): a safe subset of
Markdown built as DOM nodes, and links only to deskmate or the hosts of the message's citations and links."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from fakes import rasa_server
from fakes.rasa_server import FakeRasa
from playwright.async_api import Locator, Page, expect

ANSWER = ("Sign in at https://example.okta.com*@evil.example/login or at **https://example.okta.com**.\n"
          "\n"
          "**Steps** for *everyone*:\n"
          "1. Open the **Company Portal**\n"
          "2. Run `gpupdate /force`\n"
          "- a bullet with [the guide](https://kb.example.com/vpn)\n"
          "> The article says: **<img src=x onerror=\"window.__xss=3\">**\n"
          "Not these: [a prize](https://evil.example/win), https://evil.example/x, "
          "[local](//evil.example/y), https://user@kb.example.com/vpn")
CITATIONS = [{"n": 1, "title": "Sign in with Okta", "url": "https://example.okta.com/help"},
             {"n": 2, "title": "VPN guide", "url": "https://kb.example.com/vpn"}]
Shot = Callable[[Page, str], Awaitable[Path]]
ELEMENTS = {"P", "BR", "STRONG", "EM", "CODE", "A", "UL", "OL", "LI", "BLOCKQUOTE"}


async def ask(page: Page, base_url: str, text: str) -> Locator:
    """Opens the widget on the demo page, sends ``text`` and returns the bubble of the bot's reply."""
    await page.goto(base_url + "/")
    await page.locator(".launcher").click()
    await expect(page.locator(".msg-bot .bubble").first).to_contain_text("I'm deskmate")
    await page.locator("textarea").fill(text)
    await page.locator("textarea").press("Enter")
    reply = page.locator(".msg-bot:not(.typing)").nth(1).locator(".bubble")
    await expect(reply).to_be_visible()
    return reply


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch, fake_rasa: FakeRasa) -> FakeRasa:
    """The fake Rasa (in this process) also answers "render please" with a cited Markdown answer."""
    monkeypatch.setitem(rasa_server.SCRIPT, "render please", rasa_server._reply(
        ANSWER, intent="ask_question", custom={"citations": CITATIONS}))
    return fake_rasa


async def test_bot_markdown_renders_as_a_safe_subset(
        page: Page, screenshot: Shot, widget_api: str, scripted: FakeRasa) -> None:
    bubble = await ask(page, widget_api, "render please")
    await expect(bubble.locator("strong").first).to_have_text("https://example.okta.com")
    await expect(bubble.locator("strong")).to_have_text(
        ["https://example.okta.com", "Steps", "Company Portal", '<img src=x onerror="window.__xss=3">'])
    await expect(bubble.locator("em")).to_have_text(["everyone"])
    await expect(bubble.locator("code")).to_have_text(["gpupdate /force"])
    await expect(bubble.locator("ol > li")).to_have_text(["Open the Company Portal", "Run gpupdate /force"])
    await expect(bubble.locator("ul > li")).to_have_text(["a bullet with the guide"])
    await expect(bubble.locator("blockquote")).to_contain_text("The article says:")
    assert "**" not in await bubble.inner_text()
    tags = await bubble.evaluate("b => [...b.querySelectorAll('*')].map(e => e.tagName)")
    assert set(tags) <= ELEMENTS, "only the safe subset's elements"
    await expect(page.locator(".log img")).to_have_count(0)
    assert await page.evaluate("window.__xss") is None
    await screenshot(page, "widget-markdown")


async def test_links_go_only_to_cited_hosts(page: Page, widget_api: str, scripted: FakeRasa) -> None:
    bubble = await ask(page, widget_api, "render please")
    await expect(bubble).to_contain_text("https://example.okta.com*@evil.example/login")  # shown, as text
    hrefs = await bubble.locator("a").evaluate_all("links => links.map(a => a.href)")
    assert hrefs == ["https://example.okta.com/", "https://kb.example.com/vpn"]
    assert not any("evil.example" in h for h in hrefs), "the okta/evil link is not a link"
    await expect(bubble).to_contain_text("[a prize](https://evil.example/win)")
    await expect(bubble).to_contain_text("https://user@kb.example.com/vpn")  # user info: never a link


async def test_links_in_text_without_citations_stay_text(page: Page, widget_api: str) -> None:
    bubble = await ask(page, widget_api, "look at https://evil.example/login and **this**")
    await expect(bubble).to_have_text("You said: look at https://evil.example/login and this")
    await expect(bubble.locator("a")).to_have_count(0)
    await expect(bubble.locator("strong")).to_have_text(["this"])
    await expect(page.locator(".msg-user .bubble").last).to_have_text("look at https://evil.example/login and **this**")
