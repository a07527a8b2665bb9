"""Sign-in pages (OIDC and e-mailed links) and sign-out; the console is api/web/console, ``/me`` api/web/portal.

Root paths, outside ``/api/v1`` and its OpenAPI document. Pages take the same dependencies as the API
(``CurrentUser``, ``StaffUser``, ``AdminUser`` from api/auth/deps.py); their errors render as pages
(api/web/pages.py).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Form, Request
from fastapi.responses import RedirectResponse, Response

from api import ratelimit
from api.auth import service as people
from api.auth.deps import CurrentUser
from api.auth.models import Principal
from api.db import Conn, ConnDep
from api.deps import SettingsDep
from api.errors import NotFound
from api.settings import Settings
from api.web.pages import PAGE_HEADERS, local_path, render
from api.web.signin import links, sessions
from api.web.signin.links import UnknownAccount
from api.web.signin.oidc import PENDING_COOKIE, PENDING_TTL_S, OidcProvider, Pending, SignInFailed

router = APIRouter(tags=["web"], include_in_schema=False)
HOUR_S = 3600


def landing(principal: Principal) -> str:
    """Where a person lands after signing in: staff to the console, employees to their own page."""
    return "/console" if principal.is_staff else "/me"


def _provider(request: Request) -> OidcProvider:
    provider: OidcProvider | None = getattr(request.app.state, "oidc", None)
    if provider is None:
        raise NotFound("Sign-in with a company account is not configured (DESKMATE_OIDC_ISSUER).")
    return provider


async def _signed_in(request: Request, conn: Conn, settings: Settings, *, user_id: int, method: str,
                     next_path: str | None) -> Response:
    """A new session for ``user_id`` (the browser's old one ends) and the way to the page it came for."""
    principal = await people.principal_by_id(conn, user_id=user_id)
    secret = await sessions.start(conn, settings, user_id=user_id, method=method, previous=sessions.read_cookie(request))
    response = RedirectResponse(local_path(next_path, landing(principal)), status_code=303, headers=PAGE_HEADERS)
    sessions.set_cookie(response, request, secret, settings)
    return response


@router.get("/signin")
async def signin_page(request: Request, conn: ConnDep, settings: SettingsDep, next: str | None = None) -> Response:
    """The sign-in page; someone already signed in goes on to where they were going."""
    try:
        session = await sessions.from_request(request, conn, settings)
    except sessions.SessionEnded:
        session = None
    if session is not None:
        return RedirectResponse(local_path(next, landing(session.principal)), status_code=303, headers=PAGE_HEADERS)
    return render(request, "signin/signin.html", {"next": local_path(next, ""), "oidc": settings.oidc.configured,
                                           "oidc_label": settings.oidc.button_label})


@router.post("/signin/link")
async def request_link(request: Request, conn: ConnDep, settings: SettingsDep, tasks: BackgroundTasks,
                       email: Annotated[str, Form(max_length=320)]) -> Response:
    """Mails a one-time link when the address has an account; the answer is the same either way."""
    address = ratelimit.client_address(request)
    await ratelimit.check(conn, key=f"signin.link:{address}", limit=settings.web.signin_links_per_address_per_hour,
                          window_s=HOUR_S, message="Too many sign-in links were asked for from here; try later.")
    await ratelimit.check(conn, key=f"signin.link.to:{email.strip().lower()}", window_s=HOUR_S,
                          limit=settings.web.signin_links_per_hour,
                          message="Too many sign-in links were asked for this address; try later.")
    mail = await links.prepare_mail(conn, settings, email=email.strip(),
                                    base_url=settings.public_url or str(request.base_url))
    if mail is not None:
        tasks.add_task(links.send, settings, to=mail[0], link=mail[1])
    return render(request, "signin/sent.html", {"minutes": settings.web.signin_link_minutes})


@router.get("/signin/link/{token}")
async def use_link(token: str, request: Request, conn: ConnDep, settings: SettingsDep) -> Response:
    user_id = await links.use(conn, token=token)
    return await _signed_in(request, conn, settings, user_id=user_id, method="link", next_path=None)


@router.get("/signin/oidc")
async def oidc_start(request: Request, settings: SettingsDep, next: str | None = None) -> Response:
    url, pending = await _provider(request).begin(str(request.url_for("oidc_callback")),
                                                  next_path=local_path(next, ""))
    response = RedirectResponse(url, status_code=302, headers=PAGE_HEADERS)
    response.set_cookie(PENDING_COOKIE, pending.seal(settings), max_age=PENDING_TTL_S, path="/signin/oidc",
                        secure=sessions.cookie_secure(request), httponly=True, samesite="lax")
    return response


@router.get("/signin/oidc/callback", name="oidc_callback")
async def oidc_callback(request: Request, conn: ConnDep, settings: SettingsDep, state: str = "",
                        code: str | None = None, error: str | None = None) -> Response:
    provider = _provider(request)
    if error is not None or not code:
        raise SignInFailed(f"The sign-in provider did not sign you in ({error or 'no code'}). Start again.")
    pending = Pending.unseal(settings, request.cookies.get(PENDING_COOKIE))
    claims = await provider.finish(code=code, state=state, pending=pending,
                                   redirect_uri=str(request.url_for("oidc_callback")))
    email = provider.email_of(claims)
    user = await people.get_by_email(conn, email=email)
    if not links.may_sign_in(user):
        raise UnknownAccount(f"{email} has no active deskmate account. Ask an admin to add you; "
                             "deskmate does not create accounts at sign-in.")
    assert user is not None
    response = await _signed_in(request, conn, settings, user_id=user.id, method="oidc", next_path=pending.next)
    response.delete_cookie(PENDING_COOKIE, path="/signin/oidc", secure=sessions.cookie_secure(request), httponly=True)
    return response


@router.post("/signout")
async def signout(request: Request, conn: ConnDep, _: CurrentUser) -> Response:
    """Ends this browser's session (the CSRF token is checked with the session, like every form)."""
    session = getattr(request.state, "web_session", None)
    if session is not None:
        await sessions.end(conn, secret=session.secret)
    response = RedirectResponse("/signin", status_code=303, headers=PAGE_HEADERS)
    sessions.clear_cookie(response, request)
    return response


