"""Helpers of the web sign-in tests: sign a user in through a one-time link, read the CSRF token of a page."""

from __future__ import annotations

import re

import httpx
import psycopg

from api.settings import Settings
from api.web.signin import links, sessions

COOKIE = sessions.LOOPBACK_COOKIE  # the tests' browser talks to http://127.0.0.1
LINKS_PER_ADDRESS = 3  # the per-e-mail limit of the tests' app (conftest.py); the per-client-address one is high
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


async def sign_in(web: httpx.AsyncClient, conn: psycopg.AsyncConnection, settings: Settings,
                  *, user_id: int) -> httpx.Response:
    """Signs ``user_id`` in through a fresh link; returns the answer to the link (a redirect with the cookie)."""
    token = await links.issue(conn, settings, user_id=user_id)  # type: ignore[arg-type]
    response = await web.get(f"/signin/link/{token}")
    assert response.status_code == 303, response.text
    return response


def csrf_of(page: httpx.Response) -> str:
    found = CSRF_FIELD.search(page.text)
    assert found, "the page has no CSRF field"
    return found.group(1)
