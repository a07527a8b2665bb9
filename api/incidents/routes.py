"""Major incidents and affected people of a ticket: thin handlers over api.incidents.service."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from api.auth.deps import CurrentUser, StaffUser
from api.db import ConnDep
from api.incidents import service
from api.incidents.models import AffectedUser, MajorIncident, MajorIncidentIn

router = APIRouter(prefix="/tickets", tags=["incidents"])


@router.post("/{ref}/major-incident", status_code=status.HTTP_201_CREATED,
             responses={200: {"description": "It already was one: the declaration as it stands"}})
async def declare(ref: str, conn: ConnDep, principal: StaffUser, request: Request, response: Response,
                  data: MajorIncidentIn | None = None) -> MajorIncident:
    """Declares the ticket a major incident (agents of its team, admins): chat reports that match it link their
    employee to it; impact becomes 1 (the ticket's event records it). Repeating it changes nothing (200)."""
    declaration, new = await service.declare(conn, principal=principal, ref=ref, data=data or MajorIncidentIn(),
                                             embedder=request.app.state.embedder)
    if not new:
        response.status_code = status.HTTP_200_OK
    return declaration


@router.get("/{ref}/major-incident")
async def get_declaration(ref: str, conn: ConnDep, principal: StaffUser) -> MajorIncident:
    return await service.get(conn, principal=principal, ref=ref)


@router.delete("/{ref}/major-incident", status_code=status.HTTP_204_NO_CONTENT)
async def withdraw(ref: str, conn: ConnDep, principal: StaffUser) -> None:
    """Withdraws the declaration; the affected people stay linked and still hear of the resolution."""
    await service.withdraw(conn, principal=principal, ref=ref)


@router.get("/{ref}/affected-users")
async def affected_users(ref: str, conn: ConnDep, principal: CurrentUser) -> list[AffectedUser]:
    """Everyone affected by the ticket (its chat requester and the people linked to it), first reported first;
    for the service desk."""
    return await service.list_affected(conn, principal=principal, ref=ref)
