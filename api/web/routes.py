"""Web pages and assets: the embeddable chat widget (``/widget.js``, ``/widget.css``) and the demo page ``/``.

Mounted at the root, without the ``/api/v1`` prefix and without authentication: these are static
files and a demo page. The widget itself talks to the chat gateway (``/api/v1/chat``).
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse

from api.chat.identity import sign_identity
from api.settings import Settings
from api.web.pages import templates

HERE = Path(__file__).parent
STATIC = HERE / "static"
router = APIRouter(tags=["web"], include_in_schema=False)

# The demo page only loads its own files; the widget needs nothing else either.
DEMO_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
ASSET_HEADERS = {
    "Cache-Control": "public, max-age=300",  # the URL is unversioned: keep caches short
    "Cross-Origin-Resource-Policy": "cross-origin",  # embeddable in pages that require CORP
    "X-Content-Type-Options": "nosniff",
}


def is_loopback(host: str | None) -> bool:
    """Whether a request's client address is this machine (127.0.0.0/8, ::1)."""
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def demo_sign_in_offered(settings: Settings) -> bool:
    return settings.env in ("development", "test") and bool(settings.widget_demo_email)


def demo_identity(settings: Settings, client_host: str | None) -> str | None:
    """The signed identity of the demo employee: in development and test, for a browser on this machine only.

    Anyone else who can reach the page gets no identity (they chat anonymously); production never signs one.
    """
    if demo_sign_in_offered(settings) and is_loopback(client_host) and settings.widget_demo_email:
        return sign_identity(settings, settings.widget_demo_email)
    return None


def _asset(name: str, media_type: str) -> FileResponse:
    return FileResponse(STATIC / name, media_type=media_type, headers=ASSET_HEADERS)


@router.get("/", response_class=HTMLResponse)
async def demo_page(request: Request) -> HTMLResponse:
    """An "Example Corp intranet" page with the widget embedded, signed in as the demo employee."""
    settings: Settings = request.app.state.settings
    identity = demo_identity(settings, request.client.host if request.client else None)
    email = settings.widget_demo_email if identity else None
    context = {
        "identity": identity,
        "demo_sign_in_withheld": identity is None and demo_sign_in_offered(settings),
        "employee_email": email,
        "employee_first_name": email.split("@")[0].split(".")[0].capitalize() if email else None,
        "widget_src": f"{settings.public_url.rstrip('/')}/widget.js" if settings.public_url
                      else str(request.url_for("widget_js")),
    }
    return templates.TemplateResponse(request, "demo.html", context, headers={
        "Content-Security-Policy": DEMO_CSP, "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store",
    })


@router.get("/widget.js", name="widget_js")
async def widget_js() -> FileResponse:
    return _asset("widget.js", "text/javascript; charset=utf-8")


@router.get("/widget.css")
async def widget_css() -> FileResponse:
    return _asset("widget.css", "text/css; charset=utf-8")


@router.get("/demo.css")
async def demo_css() -> FileResponse:
    return _asset("demo.css", "text/css; charset=utf-8")


@router.get("/pages.css")
async def pages_css() -> FileResponse:
    """The style of the sign-in, console and portal pages."""
    return _asset("pages.css", "text/css; charset=utf-8")
