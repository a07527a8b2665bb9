"""The web widget in headless Chromium: against the api with a fake Rasa (always), and with the real bot (e2e)."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from e2e_support import STORAGE_KEY, TICKET_NUMBER, active_element, bot_said, last_bot, open_chat, say, stored
from fakes.rasa_server import FakeRasa
from fakes.triage import worker_settings
from playwright.async_api import Browser, Page, expect

from api.alerts import delivery
from api.auth.models import Role
from api.csat import send
from api.kb.embedding import get_embedder
from api.triage import pipeline

Shot = Callable[[Page, str], Awaitable[Path]]


# ---------- assets and the demo page ----------

async def test_demo_page_embeds_the_widget_with_a_signed_identity(widget_api: str) -> None:
    async with httpx.AsyncClient(base_url=widget_api) as client:
        page = await client.get("/")
        js = await client.get("/widget.js")
        css = await client.get("/widget.css")
    assert page.status_code == 200 and "Example Corp" in page.text
    tag = re.search(r'<script src="([^"]+/widget\.js)" data-deskmate-identity="([^"]+)" defer>', page.text)
    assert tag, "the demo page embeds the widget with the demo employee's identity"
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    assert not re.search(r"\.(inner|outer)HTML\s*\+?=|insertAdjacentHTML|document\.write", js.text), \
        "server text is only ever inserted as text nodes"
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert js.headers["cross-origin-resource-policy"] == "cross-origin"


# ---------- the widget with a fake Rasa ----------

async def test_keyboard_opens_the_panel_and_a_message_gets_a_reply(page: Page, screenshot: Shot, widget_api: str) -> None:
    await page.goto(widget_api + "/")
    for _ in range(40):  # Tab through the page until the launcher has the focus
        await page.keyboard.press("Tab")
        if await active_element(page) == "launcher":
            break
    else:
        pytest.fail("the launcher is not reachable with Tab")
    launcher = page.locator(".launcher")
    assert await launcher.evaluate("b => getComputedStyle(b).outlineStyle") == "solid", "visible focus ring"
    await expect(launcher).to_have_attribute("aria-expanded", "false")

    await page.keyboard.press("Enter")
    await expect(page.locator(".panel")).to_be_visible()
    await expect(launcher).to_have_attribute("aria-expanded", "true")
    assert await active_element(page) == "input", "opening moves the focus to the message box"
    await expect(page.locator(".msg-bot .bubble").first).to_contain_text("Hi Jordan!")

    await page.keyboard.type("hello")
    await page.keyboard.press("Enter")
    await expect(page.locator(".msg-user .bubble")).to_have_text(["hello"])
    await expect(last_bot(page)).to_have_text("Hi! I'm deskmate. Did restarting your laptop help?")
    await expect(page.locator(".quick-reply")).to_have_text(["Yes, it did", "No"])
    await screenshot(page, "widget-conversation")

    await page.keyboard.press("Escape")
    await expect(page.locator(".panel")).to_be_hidden()
    assert await active_element(page) == "launcher", "closing gives the focus back to the launcher"


async def test_the_panel_is_labelled_and_announces_new_messages(page: Page, widget_api: str) -> None:
    await open_chat(page, widget_api)
    log = page.locator(".log")
    await expect(log).to_have_attribute("aria-live", "polite")
    await expect(log).to_have_attribute("role", "log")
    await expect(page.get_by_role("dialog", name="IT Help")).to_be_visible()
    await expect(page.get_by_label("Message to the IT service desk")).to_be_visible()
    await expect(page.get_by_role("button", name="Send message")).to_be_visible()
    await expect(page.get_by_role("button", name="Close chat")).to_be_visible()

    box = page.locator("textarea")
    await expect(box).to_have_attribute("maxlength", "1000")
    await box.fill("Hello")
    await expect(page.locator(".counter")).to_have_text("5 / 1000")
    await box.fill("x" * 999)  # maxlength stops typing, not fill(): type the last keys
    await box.press("x")
    await box.press("y")
    await expect(page.locator(".counter")).to_have_text("1000 / 1000")
    await expect(page.locator(".counter")).to_have_class(re.compile(r"counter-near"))


async def test_on_a_phone_the_panel_fills_the_screen(page: Page, screenshot: Shot, widget_api: str) -> None:
    await page.set_viewport_size({"width": 390, "height": 844})
    await open_chat(page, widget_api)
    await say(page, "hello")
    await expect(last_bot(page)).to_contain_text("Did restarting")
    box = await page.locator(".panel").bounding_box()
    assert box == {"x": 0, "y": 0, "width": 390, "height": 844}
    await screenshot(page, "widget-phone")
    await page.get_by_role("button", name="Close chat").click()
    await expect(page.locator(".launcher")).to_be_visible()


async def test_typing_indicator_shows_while_the_bot_answers(
        page: Page, screenshot: Shot, widget_api: str, fake_rasa: FakeRasa) -> None:
    await open_chat(page, widget_api)
    typing = page.locator(".typing")
    await expect(typing).to_have_count(0)
    fake_rasa.hold()
    try:
        await say(page, "my screen flickers")
        assert await asyncio.to_thread(fake_rasa.waiting.wait, 10), "the message reached the fake Rasa"
        await expect(typing).to_be_visible()
        await expect(page.locator(".send")).to_be_disabled()
        await screenshot(page, "widget-typing")
    finally:
        fake_rasa.release()
    await expect(last_bot(page)).to_have_text("You said: my screen flickers")
    await expect(typing).to_have_count(0)
    await expect(page.locator(".send")).to_be_enabled()


async def test_a_quick_reply_sends_its_payload_and_shows_its_title(
        page: Page, widget_api: str, fake_rasa: FakeRasa) -> None:
    await open_chat(page, widget_api)
    await say(page, "hello")
    await page.get_by_role("button", name="Yes, it did").click()
    await expect(page.locator(".msg-user .bubble")).to_have_text(["hello", "Yes, it did"])
    await expect(last_bot(page)).to_have_text("Great, glad that helped!")
    await expect(page.locator(".quick-reply")).to_have_count(0)  # answered suggestions go away
    conversation = (await stored(page))["conversationId"]
    sent = [m["message"] for m in fake_rasa.received if m["sender"] == conversation]
    assert sent == ["hello", "/affirm"]


async def test_a_reload_resumes_the_conversation(page: Page, widget_api: str) -> None:
    await open_chat(page, widget_api)
    await say(page, "hello")
    await page.get_by_role("button", name="No").click()
    await expect(last_bot(page)).to_have_text("Sorry about that. Shall I open a ticket?")
    before = await stored(page)

    await page.reload()
    await expect(page.locator(".panel")).to_be_visible()  # it was open: it opens again
    await expect(page.locator(".msg-user .bubble")).to_have_text(["hello", "No"])  # payload shown as its title
    await expect(page.locator(".msg-bot .bubble")).to_have_text([
        re.compile("^Hi Jordan!"), "Hi! I'm deskmate. Did restarting your laptop help?",
        "Sorry about that. Shall I open a ticket?"])
    await expect(page.locator(".quick-reply")).to_have_text(["Open a ticket"])  # only the last message's
    assert (await stored(page))["conversationId"] == before["conversationId"]
    await say(page, "still there?")
    await expect(last_bot(page)).to_have_text("You said: still there?")


async def test_an_expired_session_starts_a_new_conversation(page: Page, widget_api: str) -> None:
    await open_chat(page, widget_api)
    await say(page, "hello")
    await expect(last_bot(page)).to_contain_text("Did restarting")
    old = await stored(page)
    await page.evaluate(f"""() => {{
        const s = JSON.parse(sessionStorage.getItem('{STORAGE_KEY}'));
        s.token = 'not-a-valid-token';
        sessionStorage.setItem('{STORAGE_KEY}', JSON.stringify(s));
    }}""")
    await page.reload()
    await expect(page.locator(".notice")).to_have_text("Your previous conversation has expired, so I started a new one.")
    await say(page, "are you there")
    await expect(last_bot(page)).to_have_text("You said: are you there")
    assert (await stored(page))["conversationId"] != old["conversationId"]


async def test_links_are_safe_and_server_text_is_never_html(page: Page, screenshot: Shot, widget_api: str) -> None:
    await open_chat(page, widget_api)
    await say(page, "show me links")
    message = page.locator(".msg-bot").last
    await expect(message.locator(".bubble a")).to_have_count(2)
    bare, markdown = message.locator(".bubble a").nth(0), message.locator(".bubble a").nth(1)
    await expect(bare).to_have_attribute("href", "https://intranet.example.com/it/vpn")
    await expect(bare).to_have_text("https://intranet.example.com/it/vpn")  # the sentence's full stop stays text
    await expect(markdown).to_have_text("the FAQ")
    await expect(markdown).to_have_attribute("rel", "noopener noreferrer")
    await expect(message.locator(".links a")).to_have_text(["VPN guide"])  # the javascript: link is dropped
    await expect(message.locator(".citations li")).to_have_text(["[1] Connecting to the VPN", "[2] VPN troubleshooting"])
    await expect(message.locator(".citations a")).to_have_attribute("href", "https://kb.example.com/vpn")
    await screenshot(page, "widget-links-citations")

    await say(page, "xss please")
    bubble = last_bot(page)
    await expect(bubble).to_have_text('Look: <img src=x onerror="window.__xss=1"> and [click me](javascript:window.__xss=2)')
    await expect(page.locator(".log img")).to_have_count(0)
    await expect(bubble.locator("a")).to_have_count(0)
    assert await page.evaluate("window.__xss") is None


async def test_problem_details_from_the_gateway_are_shown_politely(page: Page, widget_api: str) -> None:
    await open_chat(page, widget_api)
    problem = {"type": "/problems/rate-limited", "title": "Too many requests", "status": 429,
               "detail": "That's a lot of messages at once. Please wait a moment."}
    await page.route("**/messages", lambda route: route.fulfill(
        status=429, headers={"Retry-After": "60"}, content_type="application/problem+json", body=json.dumps(problem)))
    await say(page, "hello")
    await expect(page.locator(".notice-error")).to_have_text(
        "That's a lot of messages at once. Please wait a moment. (try again in 60 s)")
    await expect(page.locator("textarea")).to_have_value("hello")  # given back, ready to resend


async def test_an_unreachable_server_gets_a_clear_message(page: Page, screenshot: Shot, widget_api: str) -> None:
    await open_chat(page, widget_api)
    await page.context.set_offline(True)
    await say(page, "is anybody there")
    await expect(page.locator(".notice-error")).to_have_text(
        "I can't reach the service desk right now. Check your connection and try again in a moment.")
    await expect(page.locator("textarea")).to_have_value("is anybody there")
    await screenshot(page, "widget-offline")
    await page.context.set_offline(False)
    await page.locator("textarea").press("Enter")
    await expect(last_bot(page)).to_have_text("You said: is anybody there")


async def test_rasa_down_offers_a_ticket_that_then_exists(
        page: Page, screenshot: Shot, api_without_rasa: str, make_actor) -> None:  # type: ignore[no-untyped-def]
    await open_chat(page, api_without_rasa)
    await say(page, "My laptop will not start")
    await expect(last_bot(page)).to_contain_text("The assistant is restarting")
    await page.get_by_role("button", name="Open a ticket").click()
    reply = page.locator(".msg-bot").last
    await expect(reply.locator(".bubble")).to_contain_text(TICKET_NUMBER, timeout=30_000)
    await expect(page.locator(".msg-user .bubble").last).to_have_text("Open a ticket")
    await screenshot(page, "widget-ticket-opened")
    number = TICKET_NUMBER.search(await reply.locator(".bubble").inner_text()).group(0)  # type: ignore[union-attr]

    admin = await make_actor(Role.admin)
    async with httpx.AsyncClient(base_url=api_without_rasa, headers=admin.headers) as client:
        ticket = (await client.get(f"/api/v1/tickets/{number}")).raise_for_status().json()
    assert ticket["number"] == number
    assert ticket["source_type"] == "CHATBOT"
    assert ticket["title"] == "My laptop will not start"


async def ticket_from_widget(page: Page, api: str) -> str:
    """Opens the chat, says hello, declines the fake bot's tip and presses "Open a ticket"; the ticket's number."""
    await open_chat(page, api)
    await say(page, "hello")
    await page.get_by_role("button", name="No").click()
    await page.get_by_role("button", name="Open a ticket").click()
    await expect(last_bot(page)).to_contain_text(TICKET_NUMBER, timeout=30_000)
    return TICKET_NUMBER.search(await last_bot(page).inner_text()).group(0)  # type: ignore[union-attr]


async def test_a_ticket_update_appears_in_the_open_widget_without_a_reload(
        page: Page, screenshot: Shot, widget_api: str, make_actor, settings, conn) -> None:  # type: ignore[no-untyped-def]
    await page.clock.install()  # the widget's poll timer, fast-forwarded below instead of waited for
    number = await ticket_from_widget(page, widget_api)

    agent = await make_actor(Role.admin)
    async with httpx.AsyncClient(base_url=widget_api, headers=agent.headers) as client:
        (await client.post(f"/api/v1/tickets/{number}/comments",
                           json={"body": "Please try the USB-C port on the left."})).raise_for_status()
    # what the worker does for this ticket (not the session's other queued jobs): its events → the ORIGIN delivery
    ticket = await (await conn.execute("SELECT id FROM tickets WHERE number = %s", (number,))).fetchone()
    worker = worker_settings(settings)
    await pipeline.process_ticket(conn, ticket_id=ticket["id"], settings=worker, embedder=get_embedder(settings))
    origin = await (await conn.execute("SELECT id FROM alert_deliveries WHERE ticket_id = %s AND channel = 'ORIGIN'",
                                       (ticket["id"],))).fetchall()
    assert origin, "the comment should have fired the default ORIGIN rule"
    assert [await delivery.deliver(conn, delivery_id=d["id"], settings=worker) for d in origin] == ["sent"]
    await page.clock.fast_forward(16_000)

    update = bot_said(page, "Please try the USB-C port on the left.")
    await expect(update).to_have_text(re.compile(rf"^Update on your ticket {number} .*: .* wrote: Please try"),
                                      timeout=30_000)
    await screenshot(page, "widget-ticket-update")
    await page.clock.fast_forward(16_000)  # polled again: shown once
    await expect(update).to_have_count(1)


async def test_the_satisfaction_survey_arrives_in_the_open_widget_and_is_answered_there(
        page: Page, screenshot: Shot, widget_api: str, make_actor, settings, conn) -> None:  # type: ignore[no-untyped-def]
    await page.clock.install()
    number = await ticket_from_widget(page, widget_api)

    agent = await make_actor(Role.admin)
    async with httpx.AsyncClient(base_url=widget_api, headers=agent.headers) as client:
        (await client.post(f"/api/v1/tickets/{number}/transition",
                           json={"status": "resolved", "reason": "Replaced the dock."})).raise_for_status()
    # what the worker's csat job does for this ticket, now instead of after DESKMATE_CSAT_DELAY_S
    survey = await (await conn.execute("SELECT s.id FROM csat_surveys s JOIN tickets t ON t.id = s.ticket_id "
                                       "WHERE t.number = %s", (number,))).fetchone()
    assert await send.send_survey(conn, worker_settings(settings), survey_id=survey["id"]) == "sent"
    await page.clock.fast_forward(16_000)

    question = bot_said(page, "How satisfied are you")
    await expect(question).to_have_count(1, timeout=30_000)
    await expect(page.get_by_role("button", name="4", exact=True)).to_be_visible()
    await screenshot(page, "widget-csat-asked")
    await page.get_by_role("button", name="4", exact=True).click()
    # the thank-you, not just "4": the question names the ticket, whose number may hold a 4 (CI, 2026-12-08)
    await expect(last_bot(page)).to_contain_text(f"Thank you for rating {number}: 4 out of 5", timeout=30_000)
    row = await (await conn.execute("SELECT score, resolved_by FROM csat_surveys WHERE id = %s",
                                    (survey["id"],))).fetchone()
    assert (row["score"], row["resolved_by"]) == (4, "person")


async def test_the_widget_works_on_a_page_of_another_origin(browser: Browser, other_origin_page: str) -> None:
    context = await browser.new_context()  # not the `page` fixture: the CORS errors it would report are expected
    try:
        page = await context.new_page()
        await page.goto(other_origin_page)
        await page.locator(".launcher").click()
        await say(page, "hello")
        await expect(last_bot(page)).to_have_text("Hi! I'm deskmate. Did restarting your laptop help?", timeout=30_000)
    finally:
        await context.close()


@pytest.mark.e2e
async def test_a_message_sent_while_the_widget_starts_is_sent_once_it_is_ready(page: Page, widget_api: str) -> None:
    started = asyncio.Event()
    release = asyncio.Event()

    async def slow_start(route, request):  # type: ignore[no-untyped-def]
        if request.method == "POST":
            started.set()
            await release.wait()
        await route.continue_()

    await page.route(f"{widget_api}/api/v1/chat/conversations", slow_start)
    await page.goto(widget_api + "/")
    await page.locator(".launcher").click()
    await asyncio.wait_for(started.wait(), 15)
    await say(page, "hello")
    await expect(page.locator("textarea")).to_have_value("hello")  # kept while the conversation starts
    await expect(page.locator(".msg-user")).to_have_count(0)
    release.set()

    await expect(page.locator(".msg-user .bubble")).to_have_text(["hello"])
    await expect(last_bot(page)).to_have_text("Hi! I'm deskmate. Did restarting your laptop help?")
    await expect(page.locator("textarea")).to_have_value("")
    await expect(page.locator(".msg .bubble").first).to_contain_text("I'm deskmate, the IT service desk assistant")


# ---------- the widget with the real bot (Rasa server + action server) ----------

@pytest.mark.e2e
async def test_real_bot_offers_to_reset_a_forgotten_password(page: Page, screenshot: Shot, real_stack: str) -> None:
    await open_chat(page, real_stack)
    await say(page, "I forgot my password")
    # signed in (the demo page's identity): the fix is offered first (the whole unlock: test_unlock_in_widget.py)
    await expect(bot_said(page, "I can reset your password right now")).to_be_visible(timeout=30_000)
    await expect(last_bot(page)).to_contain_text("Which account is it?")
    await screenshot(page, "real-bot-password")
    await page.get_by_role("button", name="No thanks, just tell me how").click()
    await expect(bot_said(page, "I won't change anything")).to_be_visible(timeout=30_000)
    await expect(last_bot(page)).to_contain_text("self-service password page")


@pytest.mark.e2e
async def test_real_bot_opens_a_ticket_through_the_form(
        page: Page, screenshot: Shot, real_stack: str, make_actor) -> None:  # type: ignore[no-untyped-def]
    await open_chat(page, real_stack)
    await say(page, "I want to open a ticket")
    await expect(last_bot(page)).to_contain_text("what's the problem", timeout=30_000)
    await say(page, "Second monitor keeps flickering")
    await expect(last_bot(page)).to_contain_text("describe it in a bit more detail")
    await say(page, "Since this morning the second screen goes black every few seconds, on both cables.")
    await expect(last_bot(page)).to_contain_text("How urgent is it?")
    await page.get_by_role("button", name="Medium").click()
    await expect(last_bot(page)).to_contain_text("Shall I submit it?")
    await page.get_by_role("button", name="Yes, submit").click()
    await expect(last_bot(page)).to_contain_text(TICKET_NUMBER, timeout=30_000)
    await screenshot(page, "real-bot-ticket")
    number = TICKET_NUMBER.search(await last_bot(page).inner_text()).group(0)  # type: ignore[union-attr]

    admin = await make_actor(Role.admin)
    async with httpx.AsyncClient(base_url=real_stack, headers=admin.headers) as client:
        ticket = (await client.get(f"/api/v1/tickets/{number}")).raise_for_status().json()
    assert ticket["number"] == number
    assert "flickering" in ticket["title"].lower()


@pytest.mark.e2e
async def test_real_bot_answers_from_the_knowledge_base_with_citations(
        page: Page, screenshot: Shot, real_stack: str, demo_kb: None) -> None:
    await open_chat(page, real_stack)
    await say(page, "how do i restore a file i deleted from onedrive")
    answer = page.locator(".msg-bot:not(.typing)", has=page.locator(".citations li")).last
    await expect(answer.locator(".citations li").first).to_contain_text("OneDrive", timeout=60_000)
    await expect(answer.locator(".citations a").first).to_have_attribute("href", re.compile(r"^https?://"))
    await screenshot(page, "real-bot-kb-answer")
    await page.get_by_role("button", name="That solved it").click()
    await expect(last_bot(page)).to_contain_text("Glad that helped")
