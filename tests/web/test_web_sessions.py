"""Web sessions: cookie flags, idle and absolute expiry, sign-out, CSRF on state-changing requests, and the
same roles as the API's bearer tokens (the session gives the same principal)."""

from __future__ import annotations

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from signin_support import COOKIE, csrf_of, sign_in

from api import retention
from api.auth.models import Role
from api.settings import Settings
from api.web.signin import links, sessions

JSON = {"Accept": "application/json"}


def _set_cookie(response: httpx.Response) -> str:
    return response.headers["set-cookie"]


@pytest.mark.parametrize(("base_url", "name", "secure"), [
    ("http://127.0.0.1", sessions.LOOPBACK_COOKIE, False),
    ("http://localhost:8000", sessions.LOOPBACK_COOKIE, False),
    ("https://desk.example.com", sessions.SECURE_COOKIE, True),
    ("http://desk.example.com", sessions.SECURE_COOKIE, True),  # never without Secure off the loopback
])
async def test_the_cookie_is_httponly_lax_and_secure_except_on_loopback_http(
        web_asgi: tuple[FastAPI, object], conn: psycopg.AsyncConnection, web_settings: Settings, make_actor,
        base_url: str, name: str, secure: bool) -> None:
    agent = await make_actor(Role.agent)
    transport = httpx.ASGITransport(app=web_asgi[1])  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
        token = await links.issue(conn, web_settings, user_id=agent.user.id)  # type: ignore[arg-type]
        cookie = _set_cookie(await client.get(f"/signin/link/{token}"))
    attributes = [part.strip().lower() for part in cookie.split(";")]
    assert cookie.startswith(f"{name}=")
    assert "httponly" in attributes and "samesite=lax" in attributes and "path=/" in attributes
    assert ("secure" in attributes) is secure
    assert not any(a.startswith("domain=") for a in attributes)  # host-only (required by __Host-)


async def test_an_idle_session_ends(web: httpx.AsyncClient, conn: psycopg.AsyncConnection, web_settings: Settings,
                                   make_actor) -> None:
    agent = await make_actor(Role.agent)
    await sign_in(web, conn, web_settings, user_id=agent.user.id)
    await conn.execute("UPDATE web_sessions SET idle_expires_at = now() - interval '1 second' WHERE user_id = %s",
                       (agent.user.id,))
    page = await web.get("/console")
    assert page.status_code == 303 and page.headers["location"] == "/signin?next=%2Fconsole"
    api = await web.get("/api/v1/me", headers=JSON)
    assert api.status_code == 401 and api.json()["type"] == "/problems/session-ended"


async def test_a_session_ends_at_its_absolute_expiry_even_when_in_use(
        web: httpx.AsyncClient, conn: psycopg.AsyncConnection, web_settings: Settings, make_actor) -> None:
    agent = await make_actor(Role.agent)
    await sign_in(web, conn, web_settings, user_id=agent.user.id)
    await conn.execute("UPDATE web_sessions SET expires_at = now() - interval '1 second', "
                       "idle_expires_at = now() + interval '1 hour' WHERE user_id = %s", (agent.user.id,))
    assert (await web.get("/api/v1/me", headers=JSON)).status_code == 401


async def test_using_a_session_moves_its_idle_expiry_but_not_past_the_absolute_one(
        web: httpx.AsyncClient, conn: psycopg.AsyncConnection, web_settings: Settings, make_actor) -> None:
    agent = await make_actor(Role.agent)
    await sign_in(web, conn, web_settings, user_id=agent.user.id)
    await conn.execute("UPDATE web_sessions SET last_seen_at = now() - interval '10 minutes', "
                       "idle_expires_at = now() + interval '1 minute' WHERE user_id = %s", (agent.user.id,))
    assert (await web.get("/console")).status_code == 200
    row = await (await conn.execute(
        "SELECT idle_expires_at - now() AS idle_left, expires_at - idle_expires_at AS margin FROM web_sessions "
        "WHERE user_id = %s", (agent.user.id,))).fetchone()
    assert row["idle_left"].total_seconds() > (web_settings.web.session_idle_minutes - 1) * 60
    assert row["margin"].total_seconds() >= 0


async def test_signing_out_ends_the_session(web: httpx.AsyncClient, conn: psycopg.AsyncConnection,
                                           web_settings: Settings, make_actor) -> None:
    agent = await make_actor(Role.agent)
    await sign_in(web, conn, web_settings, user_id=agent.user.id)
    cookie = web.cookies[COOKIE]
    page = await web.get("/console")
    out = await web.post("/signout", data={"csrf_token": csrf_of(page)})
    assert out.status_code == 303 and out.headers["location"] == "/signin"
    assert COOKIE not in web.cookies
    left = await (await conn.execute("SELECT count(*) AS n FROM web_sessions WHERE user_id = %s",
                                     (agent.user.id,))).fetchone()
    assert left["n"] == 0
    web.cookies.set(COOKIE, cookie)  # a copy of the cookie kept from before is worth nothing now
    assert (await web.get("/console")).status_code == 303


async def test_state_changing_requests_need_the_sessions_csrf_token(
        web: httpx.AsyncClient, conn: psycopg.AsyncConnection, web_settings: Settings, make_actor) -> None:
    employee = await make_actor(Role.employee)
    await sign_in(web, conn, web_settings, user_id=employee.user.id)
    token = csrf_of(await web.get("/me"))
    form = await web.post("/signout")
    assert form.status_code == 403 and "CSRF" in form.text and form.headers["content-type"].startswith("text/html")
    wrong = await web.post("/signout", data={"csrf_token": token[:-2] + "xx"})
    assert wrong.status_code == 403
    ticket = {"title": "Printer on 3rd floor jams", "description": "Every page."}
    bare = await web.post("/api/v1/tickets", json=ticket, headers=JSON)
    assert bare.status_code == 403 and bare.json()["type"] == "/problems/csrf"
    made = await web.post("/api/v1/tickets", json=ticket, headers={**JSON, "X-CSRF-Token": token})
    assert made.status_code == 201 and made.json()["requester_id"] == employee.user.id
    assert (await web.get("/me")).status_code == 200  # still signed in: the refusals ended nothing


async def test_bearer_calls_need_no_csrf_token_even_with_a_session_cookie(
        web: httpx.AsyncClient, conn: psycopg.AsyncConnection, web_settings: Settings, make_actor) -> None:
    employee, agent = await make_actor(Role.employee), await make_actor(Role.agent)
    await sign_in(web, conn, web_settings, user_id=agent.user.id)
    made = await web.post("/api/v1/tickets", json={"title": "VPN drops hourly"}, headers={**JSON, **employee.headers})
    assert made.status_code == 201 and made.json()["requester_id"] == employee.user.id  # the token's user, not the cookie's


async def test_an_employee_session_has_employee_rights_only(
        web: httpx.AsyncClient, conn: psycopg.AsyncConnection, web_settings: Settings, make_actor) -> None:
    employee = await make_actor(Role.employee)
    landed = await sign_in(web, conn, web_settings, user_id=employee.user.id)
    assert landed.headers["location"] == "/me"
    assert (await web.get("/me")).status_code == 200
    console = await web.get("/console")
    assert console.status_code == 403 and "needs the role agent or admin" in console.text
    users = await web.get("/api/v1/users", headers=JSON)
    assert users.status_code == 403 and users.headers["content-type"] == "application/problem+json"
    me = (await web.get("/api/v1/me", headers=JSON)).json()
    assert (me["id"], me["role"]) == (employee.user.id, "employee")


async def test_an_agent_session_reaches_agent_endpoints(
        web: httpx.AsyncClient, conn: psycopg.AsyncConnection, web_settings: Settings, make_actor) -> None:
    agent = await make_actor(Role.agent)
    await sign_in(web, conn, web_settings, user_id=agent.user.id)
    assert (await web.get("/api/v1/users", headers=JSON)).status_code == 200
    assert (await web.get("/api/v1/tokens", headers=JSON)).status_code == 403  # admins only, as with a token


async def test_deactivating_a_user_ends_their_sessions(
        web: httpx.AsyncClient, conn: psycopg.AsyncConnection, web_settings: Settings, make_actor) -> None:
    agent = await make_actor(Role.agent)
    await sign_in(web, conn, web_settings, user_id=agent.user.id)
    await conn.execute("UPDATE users SET active = false WHERE id = %s", (agent.user.id,))
    assert (await web.get("/console")).status_code == 303


async def test_pages_without_a_session_send_the_browser_to_sign_in(web: httpx.AsyncClient) -> None:
    page = await web.get("/me")
    assert page.status_code == 303 and page.headers["location"] == "/signin?next=%2Fme"
    signin = await web.get("/signin", params={"next": "/me"})
    assert signin.status_code == 200 and 'action="/signin/link"' in signin.text and "/signin/oidc?next=/me" in signin.text
    assert "default-src 'self'" in signin.headers["content-security-policy"]


async def test_retention_purges_ended_sessions_and_old_links(
        web: httpx.AsyncClient, conn: psycopg.AsyncConnection, web_settings: Settings, make_actor) -> None:
    ended, live = await make_actor(Role.agent), await make_actor(Role.agent)
    await sign_in(web, conn, web_settings, user_id=ended.user.id)
    web.cookies.clear()
    await sign_in(web, conn, web_settings, user_id=live.user.id)
    await links.issue(conn, web_settings, user_id=ended.user.id)  # type: ignore[arg-type]
    await conn.execute("UPDATE web_sessions SET idle_expires_at = now() WHERE user_id = %s", (ended.user.id,))
    await conn.execute("UPDATE signin_links SET expires_at = now() - interval '2 days' WHERE user_id = %s",
                       (ended.user.id,))
    done = {p.table: p for p in await retention.purge(conn, web_settings)}  # type: ignore[arg-type]
    assert done["web_sessions"].deleted >= 1 and done["signin_links"].deleted >= 1
    counts = await (await conn.execute(
        "SELECT (SELECT count(*) FROM web_sessions WHERE user_id = %(e)s) AS ended_sessions, "
        "(SELECT count(*) FROM signin_links WHERE user_id = %(e)s) AS ended_links, "
        "(SELECT count(*) FROM web_sessions WHERE user_id = %(l)s) AS live_sessions",
        {"e": ended.user.id, "l": live.user.id})).fetchone()
    assert (counts["ended_sessions"], counts["ended_links"], counts["live_sessions"]) == (0, 0, 1)


async def test_the_sign_in_page_sends_someone_signed_in_on(
        web: httpx.AsyncClient, conn: psycopg.AsyncConnection, web_settings: Settings, make_actor) -> None:
    employee = await make_actor(Role.employee)
    await sign_in(web, conn, web_settings, user_id=employee.user.id)
    assert (await web.get("/signin")).headers["location"] == "/me"
    assert (await web.get("/signin", params={"next": "/me?tab=open"})).headers["location"] == "/me?tab=open"
    await conn.execute("UPDATE web_sessions SET expires_at = now() WHERE user_id = %s", (employee.user.id,))
    assert (await web.get("/signin")).status_code == 200  # an ended session: the page itself
