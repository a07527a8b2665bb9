"""Helpers of the admin page tests: an admin (or an agent) signed in, and what a page shows of a form."""

from __future__ import annotations

import html
import re
import uuid

import httpx
import psycopg
from signin_support import csrf_of, sign_in

from api.auth.models import Role
from api.settings import Settings

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


async def signed_in(web: httpx.AsyncClient, conn: psycopg.AsyncConnection, settings: Settings, make_actor,
                    role: Role = Role.admin) -> str:
    """Signs a new user of ``role`` in; returns the session's CSRF token (read from the console page)."""
    actor = await make_actor(role)
    await sign_in(web, conn, settings, user_id=actor.user.id)
    page = await web.get("/console" if role is not Role.employee else "/me")
    assert page.status_code == 200, page.text
    return csrf_of(page)


def unique(prefix: str = "zq") -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def field_error(page: httpx.Response, form: str, name: str) -> str:
    """The message shown beside the field ``name`` of the form whose fields are prefixed ``form``."""
    found = re.search(rf'<span class="field-error" id="{form}-{name}-error">([^<]*)</span>', page.text)
    assert found, f"no error shown for {form}-{name}"
    return html.unescape(found.group(1))


def field_value(page: httpx.Response, form: str, name: str) -> str:
    """The value the input ``name`` of the form ``form`` holds on the page."""
    found = re.search(rf'<input id="{form}-{name}" name="{name}" type="[a-z]+" value="([^"]*)"', page.text)
    assert found, f"no input {form}-{name}"
    return html.unescape(found.group(1))
