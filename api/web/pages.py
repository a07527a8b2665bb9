"""What every HTML page shares: the templates, the security headers, and errors shown as pages.

A request "wants a page" when it is not under ``/api/`` and its Accept header names ``text/html`` (a browser
navigating or submitting a form). Errors of such requests render ``error.html`` instead of problem+json; an
Unauthorized GET goes to the sign-in page and comes back afterwards (``/signin?next=…``). htmx and ``fetch``
calls that ask for JSON keep getting problem+json.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from api.errors import DeskmateError, Unauthorized

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
MARKUP = re.compile(r"\*\*|__|`|^#{1,6}[ \t]+|^[ \t]*[-*][ \t]+", re.MULTILINE)
LINK = re.compile(r"\[([^\]\n]+)\]\((?:[^)\s]+)\)")


def plain(text: str | None) -> str:
    """Markdown (the bot's and the KB's) as the words a reader sees: a link's text, no emphasis, code, heading or
    list marks. For pages that show it as text (the console's transcript and suggested articles, the portal)."""
    return MARKUP.sub("", LINK.sub(r"\1", text or ""))


templates.env.filters["plain"] = plain

# Pages load only their own files; nothing from another origin, no inline script or style.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
PAGE_HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store",
                "Referrer-Policy": "no-referrer"}


def render(request: Request, name: str, context: dict[str, Any] | None = None, *, status_code: int = 200) -> Response:
    """The template ``name`` as a page with the security headers; the template sees ``csrf_token`` when signed in."""
    session = getattr(request.state, "web_session", None)
    context = {"csrf_token": session.csrf_token if session else None, **(context or {})}
    return templates.TemplateResponse(request, name, context, status_code=status_code, headers=PAGE_HEADERS)


def wants_page(request: Request) -> bool:
    return not request.url.path.startswith("/api/") and "text/html" in request.headers.get("accept", "")


def local_path(target: str | None, default: str = "/") -> str:
    """``target`` when it is a path on this site (``/console/…``), else ``default``: never another host."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


def error_page(request: Request, exc: DeskmateError) -> Response:
    """The error as a page; a GET that needs a signed-in user is sent to the sign-in page instead."""
    if isinstance(exc, Unauthorized) and request.method == "GET":
        query = urlencode({"next": local_path(request.url.path + (f"?{request.url.query}" if request.url.query else ""))})
        return RedirectResponse(f"/signin?{query}", status_code=303, headers=PAGE_HEADERS)
    response = render(request, "error.html", {"title": exc.title, "detail": exc.detail, "status": exc.status},
                      status_code=exc.status)
    response.headers.update(exc.headers)
    return response
