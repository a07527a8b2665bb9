"""Server-side sessions of the web pages, kept in ``web_sessions`` (migrations/0036) by the hash of a secret.

The cookie holds the secret: HttpOnly, SameSite=Lax, path ``/``, Secure (and named ``__Host-deskmate-session``)
unless the page is served over plain http on a loopback host (``make run``), where it is ``deskmate-session``.
A session ends after ``DESKMATE_WEB_SESSION_IDLE_MINUTES`` unused, ``DESKMATE_WEB_SESSION_MAX_HOURS`` after
sign-in in any case, at sign-out, and when its user is deactivated. Signing in always starts a new session
(the browser's old one, if any, is deleted), so a session id planted before sign-in is worth nothing.
"""

from __future__ import annotations

import hashlib
import ipaddress
import secrets
from dataclasses import dataclass

from fastapi import Request, Response

from api import sql
from api.auth import service as people
from api.auth.models import Principal
from api.db import Conn
from api.errors import Unauthorized
from api.settings import Settings
from api.web.signin import csrf

Q = sql.load("api.web.signin")
SECURE_COOKIE = "__Host-deskmate-session"
LOOPBACK_COOKIE = "deskmate-session"


class SessionEnded(Unauthorized):
    type, title = "/problems/session-ended", "The session has ended"


@dataclass(frozen=True)
class WebSession:
    """A signed-in browser: the cookie's secret and the principal it stands for."""

    secret: str
    principal: Principal

    @property
    def csrf_token(self) -> str:
        return csrf.token_for(self.secret)


def _hash(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def _loopback_host(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return host is not None and ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def cookie_secure(request: Request) -> bool:
    """Secure everywhere except plain http on a loopback host (a browser there cannot keep a Secure cookie)."""
    return request.url.scheme == "https" or not _loopback_host(request.url.hostname)


def cookie_name(request: Request) -> str:
    return SECURE_COOKIE if cookie_secure(request) else LOOPBACK_COOKIE


def read_cookie(request: Request) -> str | None:
    return request.cookies.get(cookie_name(request)) or None


def set_cookie(response: Response, request: Request, secret: str, settings: Settings) -> None:
    response.set_cookie(cookie_name(request), secret, max_age=settings.web.session_max_hours * 3600, path="/",
                        secure=cookie_secure(request), httponly=True, samesite="lax")


def clear_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(cookie_name(request), path="/", secure=cookie_secure(request), httponly=True,
                           samesite="lax")


async def start(conn: Conn, settings: Settings, *, user_id: int, method: str, previous: str | None) -> str:
    """Starts a session for ``user_id`` (signed in by ``method``: oidc or link) and ends ``previous``;
    returns the new secret for the cookie."""
    secret = secrets.token_urlsafe(32)
    async with conn.transaction():
        if previous:
            await conn.execute(Q.delete_session, {"id_hash": _hash(previous)})
        await conn.execute(Q.create_session, {
            "id_hash": _hash(secret), "user_id": user_id, "method": method,
            "idle_minutes": settings.web.session_idle_minutes, "max_hours": settings.web.session_max_hours})
    return secret


async def end(conn: Conn, *, secret: str) -> None:
    await conn.execute(Q.delete_session, {"id_hash": _hash(secret)})


async def principal_for(conn: Conn, settings: Settings, *, secret: str) -> Principal | None:
    """The principal of a live session (and marks it used), or None when it has ended or its user is inactive."""
    row = await (await conn.execute(Q.touch_session, {
        "id_hash": _hash(secret), "idle_minutes": settings.web.session_idle_minutes})).fetchone()
    return people.principal_from_row(row) if row else None


async def from_request(request: Request, conn: Conn, settings: Settings) -> WebSession | None:
    """The request's session, CSRF-checked; None without a session cookie, SessionEnded when it is no longer valid.

    Kept on ``request.state.web_session`` for the page templates (``csrf_token``).
    """
    secret = read_cookie(request)
    if secret is None:
        return None
    principal = await principal_for(conn, settings, secret=secret)
    if principal is None:
        raise SessionEnded("Your session has ended; sign in again.")
    await csrf.verify(request, secret)
    session = WebSession(secret=secret, principal=principal)
    request.state.web_session = session
    return session
