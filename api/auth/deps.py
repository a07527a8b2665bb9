"""Request authentication: bearer tokens, web sessions, the action server acting for a verified employee, role checks.

A request with an ``Authorization`` header is authenticated by its bearer token only. Without one, the web
session cookie (api/web/signin/sessions.py) authenticates it, for the pages and for ``/api/v1`` alike, with
the same principal and roles; a cookie-authenticated state-changing request must carry the session's CSRF
token (api/web/signin/csrf.py), checked there. Every dependency below therefore serves both.

A service token (the action server's) carries no standing right to act for anyone. With a valid per-turn
assertion (``X-Deskmate-Assertion``, api/auth/assertions.py) for a conversation that belongs to the
assertion's subject, it acts as that employee; without one it is an anonymous visitor, which only the
routes that take :data:`VisitorOrUser` accept. ``X-On-Behalf-Of`` is refused, always.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request

from api import sql
from api.auth import assertions, service
from api.auth.models import Principal, Role
from api.db import Conn, ConnDep
from api.deps import SettingsDep
from api.errors import Forbidden, Unauthorized
from api.settings import Settings
from api.web.signin import sessions as web_sessions

ON_BEHALF_HEADER = "x-on-behalf-of"
ASSERTION_HEADER = "x-deskmate-assertion"
Q = sql.load("api.chat")


async def _token_principal(request: Request, conn: Conn) -> Principal:
    if request.headers.get(ON_BEHALF_HEADER) is not None:
        raise Forbidden("X-On-Behalf-Of is not accepted; the action server sends the turn's X-Deskmate-Assertion.")
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Send an API token as 'Authorization: Bearer <token>'.")
    return await service.principal_for_token(conn, token=token.strip())


async def _asserted(request: Request, conn: Conn, settings: Settings, service_principal: Principal,
                    token: str) -> Principal:
    """The employee a verified assertion names, once their conversation is confirmed; employee rights only."""
    assertion = assertions.verify(settings, token)
    owner = await (await conn.execute(Q.conversation_owner, {"id": assertion.conversation_id})).fetchone()
    if owner is None or owner["email"] is None or owner["email"].lower() != assertion.subject.lower():
        raise Forbidden("The assertion's conversation does not belong to its subject.")
    request.state.assertion = assertion
    return await service.act_on_behalf(conn, service=service_principal, email=owner["email"])


async def _authenticate(request: Request, conn: Conn, settings: Settings, *, visitor_ok: bool) -> Principal:
    if "authorization" not in request.headers and (
            session := await web_sessions.from_request(request, conn, settings)) is not None:
        request.state.user_id = session.principal.id
        return session.principal
    principal = await _token_principal(request, conn)
    if principal.role is Role.service:
        token = request.headers.get(ASSERTION_HEADER)
        if token:
            principal = await _asserted(request, conn, settings, principal, token)
        elif not visitor_ok:
            raise Forbidden("Without a per-turn assertion the action server acts as an anonymous visitor, "
                            "which may only ask the knowledge base.")
    request.state.user_id = principal.id
    return principal


async def current_principal(request: Request, conn: ConnDep, settings: SettingsDep) -> Principal:
    return await _authenticate(request, conn, settings, visitor_ok=False)


async def current_reader(request: Request, conn: ConnDep, settings: SettingsDep) -> Principal:
    """Like current_principal, but a service token without an assertion passes as an anonymous visitor.

    The visitor is the service principal itself (role ``service``): not staff, so it sees only published
    articles for employees, and it owns nothing.
    """
    return await _authenticate(request, conn, settings, visitor_ok=True)


CurrentUser = Annotated[Principal, Depends(current_principal)]
VisitorOrUser = Annotated[Principal, Depends(current_reader)]


def is_visitor(principal: Principal) -> bool:
    """True for the action server answering an anonymous conversation."""
    return principal.role is Role.service


def require(*roles: Role) -> Callable[[Principal], Coroutine[Any, Any, Principal]]:
    """A dependency that lets only ``roles`` through."""

    async def check(principal: CurrentUser) -> Principal:
        if principal.role not in roles:
            raise Forbidden(f"This needs the role {' or '.join(roles)}; you are {principal.role}.")
        return principal

    return check


StaffUser = Annotated[Principal, Depends(require(Role.agent, Role.admin))]
AdminUser = Annotated[Principal, Depends(require(Role.admin))]


@dataclass(frozen=True)
class Turn:
    """The employee and conversation of a chat turn the action server acts in."""

    user_id: int
    conversation_id: str


async def asserted_turn(request: Request, principal: CurrentUser) -> Turn:
    """The employee and conversation of the chat turn: only with a per-turn assertion (api/auth/assertions.py)."""
    assertion = getattr(request.state, "assertion", None)
    if principal.via_service_id is None or assertion is None or assertion.subject.lower() != principal.email.lower():
        raise Forbidden("This runs in a chat turn: call with the action server's token and the turn's "
                        "X-Deskmate-Assertion.")
    return Turn(user_id=principal.id, conversation_id=assertion.conversation_id)


TurnDep = Annotated[Turn, Depends(asserted_turn)]
