"""The employee portal's pages (``/me``, ``/me/tickets/{number}``), its reply form, and the files that make it an
installable web app (``/manifest.webmanifest``, ``/portal-sw.js``, ``/portal.js``, ``/portal.css``, icons).

Pages need a signed-in person (``CurrentUser``: the session cookie; the form's CSRF token is checked there) and
render their errors as pages (api/web/pages.py). The assets are public, like the widget's.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from pydantic import ValidationError

from api.auth.deps import CurrentUser
from api.auth.models import Principal
from api.chat.identity import sign_identity
from api.db import ConnDep
from api.deps import SettingsDep
from api.errors import Unauthorized
from api.settings import Settings
from api.tickets import service as tickets
from api.tickets.models import PRIORITY_NAMES, CommentCreate
from api.web.pages import CSP, PAGE_HEADERS, render
from api.web.portal import service as portal
from api.web.routes import STATIC

router = APIRouter(tags=["web"], include_in_schema=False)
PORTAL_STATIC = STATIC / "portal"
NAME, SHORT_NAME, THEME = "deskmate IT help", "IT help", "#1f5fbf"
# The app shell: public, unversioned files (short caches); never a page or an API answer.
ASSETS = {
    "/portal.js": ("portal.js", "text/javascript; charset=utf-8"),
    "/portal.css": ("portal.css", "text/css; charset=utf-8"),
    "/portal/offline.html": ("offline.html", "text/html; charset=utf-8"),
    "/portal/icon.svg": ("icon.svg", "image/svg+xml"),
    "/portal/icon-192.png": ("icon-192.png", "image/png"),
    "/portal/icon-512.png": ("icon-512.png", "image/png"),
}
ASSET_HEADERS = {"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"}


def _identity(settings: Settings, principal: Principal) -> str | None:
    """The widget identity of the signed-in person, signed here like an intranet's back end would; None when no
    widget site key is configured (production without DESKMATE_WIDGET_SITE_KEYS: the widget chats anonymously)."""
    try:
        return sign_identity(settings, principal.email)
    except Unauthorized:
        return None


async def _ticket_page(request: Request, conn: ConnDep, settings: Settings, principal: Principal, number: str, *,
                       error: str | None = None, draft: str = "", status_code: int = 200) -> Response:
    view = await portal.ticket_view(conn, principal=principal, number=number)
    return render(request, "portal/ticket.html", _page(settings, principal) | {
        "view": view, "priority_names": PRIORITY_NAMES, "error": error, "draft": draft}, status_code=status_code)


def _page(settings: Settings, principal: Principal) -> dict[str, Any]:
    return {"principal": principal, "identity": _identity(settings, principal), "theme": THEME}


@router.get("/me")
async def my_tickets(request: Request, conn: ConnDep, settings: SettingsDep, principal: CurrentUser) -> Response:
    """My tickets, open ones first, and the widget to start a new conversation."""
    return render(request, "portal/me.html", _page(settings, principal) | {
        "tickets": await portal.my_tickets(conn, principal=principal)})


@router.get("/me/tickets/{number}")
async def my_ticket(number: str, request: Request, conn: ConnDep, settings: SettingsDep,
                    principal: CurrentUser) -> Response:
    return await _ticket_page(request, conn, settings, principal, number)


@router.post("/me/tickets/{number}/replies")
async def reply(number: str, request: Request, conn: ConnDep, settings: SettingsDep, principal: CurrentUser,
                body: Annotated[str, Form(max_length=25_000)] = "") -> Response:
    """Adds the employee's reply as a public comment, then back to the ticket (POST-redirect-GET); a reply the
    ticket service refuses shows on the ticket page with what was typed."""
    ticket = await portal.my_ticket(conn, principal=principal, number=number)
    try:
        data = CommentCreate(body=body)
    except ValidationError:
        return await _ticket_page(request, conn, settings, principal, number, draft=body, status_code=422,
                                  error="Write a reply first (at most 20,000 characters).")
    comment = await tickets.add_comment(conn, principal=principal, ref=ticket.id, data=data,
                                        meta={"via": "portal"})
    return RedirectResponse(f"/me/tickets/{ticket.number}#comment-{comment.id}", status_code=303,
                            headers=PAGE_HEADERS)


@router.get("/manifest.webmanifest")
async def manifest() -> Response:
    """The web app manifest: installs ``/me`` as a standalone app."""
    icons = [{"src": "/portal/icon-192.png", "sizes": "192x192", "type": "image/png"},
             {"src": "/portal/icon-512.png", "sizes": "512x512", "type": "image/png", "purpose": "any maskable"},
             {"src": "/portal/icon.svg", "sizes": "any", "type": "image/svg+xml"}]
    body = {"name": NAME, "short_name": SHORT_NAME, "start_url": "/me", "scope": "/me", "display": "standalone",
            "theme_color": THEME, "background_color": "#f6f8fa", "icons": icons}
    return Response(json.dumps(body), media_type="application/manifest+json", headers=ASSET_HEADERS)


@router.get("/portal-sw.js")
async def service_worker() -> FileResponse:
    """The app-shell service worker; revalidated on every registration check so a new shell ships at once."""
    return FileResponse(STATIC / "portal-sw.js", media_type="text/javascript; charset=utf-8",
                        headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"})


def _asset_route(path: str, name: str, media_type: str) -> None:
    async def asset() -> FileResponse:
        folder = PORTAL_STATIC if path.startswith("/portal/") else STATIC
        page = {"Content-Security-Policy": CSP} if media_type.startswith("text/html") else {}
        return FileResponse(folder / name, media_type=media_type, headers=ASSET_HEADERS | page)

    router.add_api_route(path, asset, methods=["GET"], name=f"portal_asset_{name}")


for _path, (_name, _type) in ASSETS.items():
    _asset_route(_path, _name, _type)
