"""The employee portal (/me): only the person's own tickets, public comments only, replies with the session's
CSRF token (POST-redirect-GET), the conversation that opened a ticket, and MOBILE tickets from a phone."""

from __future__ import annotations

import re

import httpx
import psycopg
from portal_support import ticket_of
from signin_support import csrf_of, sign_in

from api.auth import service as people
from api.auth.models import Role
from api.chat import service as chat
from api.chat import tickets as chat_tickets
from api.chat.identity import sign_identity
from api.chat.models import TicketRequest
from api.settings import Settings
from api.tickets import service as tickets
from api.tickets.models import CommentCreate, SourceType

JSON = {"Accept": "application/json"}


async def test_an_employee_sees_only_their_own_tickets_open_ones_first(
        web: httpx.AsyncClient, conn: psycopg.AsyncConnection, web_settings: Settings, make_actor) -> None:
    me, other = await make_actor(), await make_actor()
    done = await ticket_of(conn, user_id=me.user.id, title="Old monitor replaced")
    await conn.execute("UPDATE tickets SET status = 'resolved' WHERE id = %s", (done.id,))
    open_ = await ticket_of(conn, user_id=me.user.id, title="Laptop fan is loud")
    theirs = await ticket_of(conn, user_id=other.user.id, title="Someone else's VPN")
    await sign_in(web, conn, web_settings, user_id=me.user.id)

    page = await web.get("/me")

    assert page.status_code == 200 and "default-src 'self'" in page.headers["content-security-policy"]
    numbers = re.findall(r'href="/me/tickets/([A-Z0-9-]+)"', page.text)
    assert numbers == [open_.number, done.number]  # open first; nobody else's
    assert theirs.number not in page.text and "Someone else" not in page.text


async def test_another_persons_ticket_is_not_found_and_cannot_be_replied_to(
        web: httpx.AsyncClient, conn: psycopg.AsyncConnection, web_settings: Settings, make_actor) -> None:
    me, other = await make_actor(), await make_actor()
    theirs = await ticket_of(conn, user_id=other.user.id, title="Payroll access")
    await sign_in(web, conn, web_settings, user_id=me.user.id)
    token = csrf_of(await web.get("/me"))

    assert (await web.get(f"/me/tickets/{theirs.number}")).status_code == 404
    reply = await web.post(f"/me/tickets/{theirs.number}/replies", data={"csrf_token": token, "body": "mine now"})

    assert reply.status_code == 404
    count = await (await conn.execute("SELECT count(*) AS n FROM ticket_comments WHERE ticket_id = %s",
                                      (theirs.id,))).fetchone()
    assert count is not None and count["n"] == 0


async def test_the_ticket_page_shows_public_comments_and_never_internal_notes(
        web: httpx.AsyncClient, conn: psycopg.AsyncConnection, web_settings: Settings, make_actor) -> None:
    me, admin = await make_actor(), await make_actor(Role.admin)
    ticket = await ticket_of(conn, user_id=me.user.id, title="Printer offline")
    desk = await people.principal_by_id(conn, user_id=admin.user.id)  # type: ignore[arg-type]
    for body, internal in (("We are on it: restart the printer please.", False),
                           ("INTERNAL: the requester broke it last week too", True)):
        await tickets.add_comment(conn, principal=desk, ref=ticket.id,  # type: ignore[arg-type]
                                  data=CommentCreate(body=body, internal=internal))
    await sign_in(web, conn, web_settings, user_id=me.user.id)

    page = await web.get(f"/me/tickets/{ticket.number}")

    assert page.status_code == 200
    assert "We are on it" in page.text and "Service desk" in page.text
    assert "INTERNAL" not in page.text


async def test_a_reply_needs_the_csrf_token_and_comes_back_to_the_ticket(
        web: httpx.AsyncClient, conn: psycopg.AsyncConnection, web_settings: Settings, make_actor) -> None:
    me = await make_actor()
    ticket = await ticket_of(conn, user_id=me.user.id, title="Keyboard missing keys")
    await sign_in(web, conn, web_settings, user_id=me.user.id)
    token = csrf_of(await web.get(f"/me/tickets/{ticket.number}"))
    path = f"/me/tickets/{ticket.number}/replies"

    forged = await web.post(path, data={"body": "from another site"})
    empty = await web.post(path, data={"csrf_token": token, "body": "   "})
    sent = await web.post(path, data={"csrf_token": token, "body": "The Q and W keys are gone."})

    assert forged.status_code == 403 and "CSRF" in forged.text
    assert empty.status_code == 422 and "Write a reply first" in empty.text and 'role="alert"' in empty.text
    assert sent.status_code == 303 and sent.headers["location"].startswith(f"/me/tickets/{ticket.number}#comment-")
    page = await web.get(sent.headers["location"])
    assert "The Q and W keys are gone." in page.text and "from another site" not in page.text
    rows = await (await conn.execute("SELECT author_id, internal FROM ticket_comments WHERE ticket_id = %s",
                                     (ticket.id,))).fetchall()
    assert rows == [{"author_id": me.user.id, "internal": False}]


async def test_the_widget_on_me_is_signed_in_as_the_sessions_employee(
        web: httpx.AsyncClient, conn: psycopg.AsyncConnection, web_settings: Settings, make_actor) -> None:
    me = await make_actor()
    await sign_in(web, conn, web_settings, user_id=me.user.id)
    page = await web.get("/me")
    identity = re.search(r'id="deskmate-widget-script" src="/widget.js" data-deskmate-identity="([^"]+)"', page.text)
    assert identity is not None and '<script src="/portal.js" defer>' in page.text
    started = await web.post("/api/v1/chat/conversations", json={"identity": identity.group(1)}, headers=JSON)
    assert started.status_code == 201 and started.json()["employee"]["email"] == me.user.email


async def test_a_conversation_started_on_a_phone_opens_mobile_tickets_shown_with_their_transcript(
        web: httpx.AsyncClient, conn: psycopg.AsyncConnection, web_settings: Settings, make_actor) -> None:
    me = await make_actor()
    identity = sign_identity(web_settings, me.user.email)
    started = await web.post("/api/v1/chat/conversations", json={"identity": identity, "client": "mobile"},
                             headers=JSON)
    assert started.status_code == 201
    conversation_id = started.json()["conversation_id"]
    await chat.store(conn, conversation_id, "user", "My phone cannot reach the Wi-Fi")  # type: ignore[arg-type]
    employee = await people.principal_by_id(conn, user_id=me.user.id)  # type: ignore[arg-type]
    opened = await chat_tickets.open_ticket(conn, conversation_id=conversation_id,  # type: ignore[arg-type]
                                            request=TicketRequest(), acting=employee)
    await sign_in(web, conn, web_settings, user_id=me.user.id)

    page = await web.get(f"/me/tickets/{opened.ticket.number}")

    assert opened.ticket.source_type is SourceType.MOBILE
    assert "The conversation that opened it" in page.text and "My phone cannot reach the Wi-Fi" in page.text


async def test_the_client_hint_is_an_enum_and_a_browser_by_default(
        web: httpx.AsyncClient, conn: psycopg.AsyncConnection, web_settings: Settings, make_actor) -> None:
    me = await make_actor()
    identity = sign_identity(web_settings, me.user.email)
    bad = await web.post("/api/v1/chat/conversations", json={"identity": identity, "client": "tablet"}, headers=JSON)
    plain = await web.post("/api/v1/chat/conversations", json={"identity": identity}, headers=JSON)
    assert bad.status_code == 422
    conversation_id = plain.json()["conversation_id"]
    row = await chat.get_conversation(conn, conversation_id=conversation_id)  # type: ignore[arg-type]
    employee = await people.principal_by_id(conn, user_id=me.user.id)  # type: ignore[arg-type]
    await chat.store(conn, conversation_id, "user", "Outlook keeps asking for my password")  # type: ignore[arg-type]
    opened = await chat_tickets.open_ticket(conn, conversation_id=conversation_id,  # type: ignore[arg-type]
                                            request=TicketRequest(), acting=employee)
    assert row["client"] == "browser" and opened.ticket.source_type is SourceType.CHATBOT


async def test_the_web_app_files_are_served_with_their_content_types(web: httpx.AsyncClient) -> None:
    manifest = await web.get("/manifest.webmanifest")
    worker = await web.get("/portal-sw.js")
    script = await web.get("/portal.js")
    icon = await web.get("/portal/icon-192.png")

    assert manifest.headers["content-type"] == "application/manifest+json"
    app = manifest.json()
    assert (app["start_url"], app["display"], app["theme_color"]) == ("/me", "standalone", "#1f5fbf")
    assert {i["sizes"] for i in app["icons"]} >= {"192x192", "512x512"}
    assert worker.headers["content-type"].startswith("text/javascript") and "caches.open" in worker.text
    assert "/api/" not in re.search(r"var SHELL = \[([^\]]*)\]", worker.text).group(1)  # type: ignore[union-attr]
    assert script.headers["content-type"].startswith("text/javascript") and "serviceWorker" in script.text
    assert icon.headers["content-type"] == "image/png" and icon.content.startswith(b"\x89PNG")
    for path in [i["src"] for i in app["icons"]] + ["/portal.css", "/portal/offline.html"]:
        assert (await web.get(path)).status_code == 200, path
