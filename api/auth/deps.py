"""Request authentication: bearer tokens, service identities acting for a user, role checks."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Request

from api.auth import service
from api.auth.models import Principal, Role
from api.db import ConnDep
from api.errors import Forbidden, Unauthorized

ON_BEHALF_HEADER = "x-on-behalf-of"


async def current_principal(request: Request, conn: ConnDep) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Send an API token as 'Authorization: Bearer <token>'.")
    principal = await service.principal_for_token(conn, token=token.strip())
    on_behalf = request.headers.get(ON_BEHALF_HEADER)
    if on_behalf:
        principal = await service.act_on_behalf(conn, service=principal, email=on_behalf)
    elif principal.role is Role.service:
        raise Forbidden("Service tokens must name the person they act for in X-On-Behalf-Of.")
    request.state.user_id = principal.id
    return principal


CurrentUser = Annotated[Principal, Depends(current_principal)]


def require(*roles: Role) -> Callable[[Principal], Coroutine[Any, Any, Principal]]:
    """A dependency that lets only ``roles`` through."""

    async def check(principal: CurrentUser) -> Principal:
        if principal.role not in roles:
            raise Forbidden(f"This needs the role {' or '.join(roles)}; you are {principal.role}.")
        return principal

    return check


StaffUser = Annotated[Principal, Depends(require(Role.agent, Role.admin))]
AdminUser = Annotated[Principal, Depends(require(Role.admin))]
