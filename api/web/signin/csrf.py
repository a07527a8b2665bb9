"""CSRF tokens of web sessions: one per session, sent back in a hidden field or a header, checked in one place.

The token is an HMAC of the session's secret (the cookie's value), so it needs no storage, changes with every
new session, and cannot be turned back into the cookie. Every state-changing request (not GET, HEAD, OPTIONS)
authenticated by the session cookie must carry it: ``X-CSRF-Token`` (htmx, ``fetch``) or the form field
``csrf_token``. :func:`api.web.signin.sessions.from_request` calls :func:`verify`, so no route can forget it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from fastapi import Request

from api.errors import Forbidden

HEADER = "x-csrf-token"
FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")
_PURPOSE = b"deskmate web csrf v1"


class CsrfFailed(Forbidden):
    type, title = "/problems/csrf", "The request lacks this session's CSRF token"


def token_for(secret: str) -> str:
    """The CSRF token of the session whose cookie holds ``secret``."""
    digest = hmac.new(secret.encode(), _PURPOSE, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


async def _sent(request: Request) -> str | None:
    if (header := request.headers.get(HEADER)) is not None:
        return header
    if request.headers.get("content-type", "").split(";")[0].strip() in FORMS:
        value = (await request.form()).get(FIELD)  # Starlette keeps the parsed form for the route's Form()s
        return value if isinstance(value, str) else None
    return None


async def verify(request: Request, secret: str) -> None:
    """Passes safe methods; otherwise CsrfFailed unless the request carries the session's token."""
    if request.method in SAFE_METHODS:
        return
    sent = await _sent(request)
    if sent is None or not hmac.compare_digest(sent.encode(), token_for(secret).encode()):
        raise CsrfFailed("Reload the page and try again: the form or call did not carry this session's CSRF token "
                         f"(the {FIELD} field or the X-CSRF-Token header).")
