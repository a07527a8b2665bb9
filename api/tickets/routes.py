"""Ticket endpoints: thin handlers over api.tickets.service."""

from __future__ import annotations

from typing import Annotated, TypeVar

from fastapi import APIRouter, Header, Query, Request, Response, status

from api.auth.deps import AdminUser, CurrentUser
from api.db import ConnDep
from api.deps import IdempotencyKey
from api.pagination import CursorParam
from api.tickets import models as m
from api.tickets import service

router = APIRouter(prefix="/tickets", tags=["tickets"])
categories = APIRouter(prefix="/categories", tags=["tickets"])
Me = Annotated[str | None, Query(pattern=r"^(me|\d+)$", description="a user id, or 'me'")]


def _user(value: str | None, me: int) -> int | None:
    return None if value is None else me if value == "me" else int(value)


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_ticket(
    data: m.TicketCreate, conn: ConnDep, principal: CurrentUser, response: Response,
    idempotency_key: IdempotencyKey = None,
) -> m.Ticket:
    ticket, created = await service.create(conn, principal=principal, data=data, idempotency_key=idempotency_key)
    response.headers["Location"] = f"/api/v1/tickets/{ticket.id}"
    if not created:
        response.headers["Idempotent-Replayed"] = "true"
    return ticket


@router.get("")
async def list_tickets(
    conn: ConnDep, principal: CurrentUser,
    status_: Annotated[list[m.Status] | None, Query(alias="status")] = None,
    team_id: int | None = None, assignee: Me = None, requester: Me = None,
    unassigned: bool = False, priority: Annotated[int | None, Query(ge=1, le=5)] = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    cursor: CursorParam = None, limit: Annotated[int, Query(ge=1, le=100)] = 25,
) -> m.TicketPage:
    filters = service.Filters(
        status=status_, team_id=team_id, assignee_id=_user(assignee, principal.id), unassigned=unassigned,
        requester_id=_user(requester, principal.id), priority=priority, q=q or None,
    )
    return await service.list_tickets(conn, principal=principal, filters=filters, cursor=cursor, limit=limit)


@router.get("/{ref}")
async def get_ticket(ref: str, conn: ConnDep, principal: CurrentUser, response: Response) -> m.Ticket:
    ticket = await service.get_or_raise(conn, principal=principal, ref=ref)
    response.headers["ETag"] = f'"{ticket.version}"'
    return ticket


@router.patch("/{ref}")
async def update_ticket(
    ref: str, data: m.TicketUpdate, conn: ConnDep, principal: CurrentUser,
    if_match: Annotated[str | None, Header(alias="If-Match", pattern=r'^"?\d+"?$')] = None,
) -> m.Ticket:
    version = int(if_match.strip('"')) if if_match else None
    return await service.update(conn, principal=principal, ref=ref, data=data, if_version=version)


@router.post("/{ref}/transition")
async def transition_ticket(ref: str, data: m.Transition, conn: ConnDep, principal: CurrentUser) -> m.Ticket:
    return await service.transition(conn, principal=principal, ref=ref, data=data)


@router.post("/{ref}/assign")
async def assign_ticket(ref: str, data: m.Assignment, conn: ConnDep, principal: CurrentUser) -> m.Ticket:
    return await service.assign(conn, principal=principal, ref=ref, data=data)


@router.post("/{ref}/comments", status_code=status.HTTP_201_CREATED)
async def add_comment(ref: str, data: m.CommentCreate, conn: ConnDep, principal: CurrentUser) -> m.Comment:
    return await service.add_comment(conn, principal=principal, ref=ref, data=data)


T = TypeVar("T")
PageLimit = Annotated[int, Query(ge=1, le=500)]
NEXT_PAGE = {"Link": {"description": '`<…?cursor=…>; rel="next"` when there are more', "schema": {"type": "string"}}}


def _paged(request: Request, response: Response, page: tuple[list[T], str | None]) -> list[T]:
    """The page's items; RFC 8288 ``Link: <url>; rel="next"`` to the following page (the body stays a list)."""
    items, next_cursor = page
    if next_cursor:
        response.headers["Link"] = f'<{request.url.include_query_params(cursor=next_cursor)}>; rel="next"'
    return items


@router.get("/{ref}/comments", responses={200: {"headers": NEXT_PAGE}})
async def list_comments(ref: str, conn: ConnDep, principal: CurrentUser, request: Request, response: Response,
                        cursor: CursorParam = None, limit: PageLimit = 100) -> list[m.Comment]:
    """Comments oldest first, a page at a time (``Link: rel="next"`` while there are more)."""
    return _paged(request, response, await service.list_comments(conn, principal=principal, ref=ref,
                                                                   cursor=cursor, limit=limit))


@router.get("/{ref}/events", responses={200: {"headers": NEXT_PAGE}})
async def list_events(ref: str, conn: ConnDep, principal: CurrentUser, request: Request, response: Response,
                      cursor: CursorParam = None, limit: PageLimit = 100) -> list[m.Event]:
    """The audit trail oldest first, a page at a time (``Link: rel="next"`` while there are more)."""
    return _paged(request, response, await service.list_events(conn, principal=principal, ref=ref,
                                                                 cursor=cursor, limit=limit))


@categories.get("")
async def list_categories(conn: ConnDep, _: CurrentUser) -> list[m.Category]:
    return await service.list_categories(conn)


@categories.post("", status_code=status.HTTP_201_CREATED)
async def create_category(data: m.CategoryCreate, conn: ConnDep, _: AdminUser) -> m.Category:
    return await service.create_category(conn, data=data)
