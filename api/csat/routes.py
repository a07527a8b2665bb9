"""CSAT endpoints: the report and a ticket's survey (signed in), and the rating page the e-mail's links open (no
session: the signed single-use link is the credential, so no cookie is read and there is nothing to forge).
Thin handlers over api.csat.service."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from urllib.parse import parse_qs

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse

from api.auth.deps import CurrentUser, StaffUser
from api.csat import service
from api.csat.models import Report, TicketCsat
from api.db import ConnDep
from api.deps import SettingsDep
from api.errors import responses as problem_responses

router = APIRouter(tags=["csat"])
page = APIRouter(prefix="/csat", tags=["csat"])
Slug = Annotated[str | None, Query(max_length=100, pattern=r"^[a-z0-9][a-z0-9-]*$")]
Token = Annotated[str, Path(min_length=1, max_length=500, description="the link's signed token")]
# The token is in the address: never sent on as a Referer, never cached; the page loads nothing from anywhere.
PAGE_HEADERS = {"Referrer-Policy": "no-referrer", "Cache-Control": "no-store", "X-Robots-Tag": "noindex",
                "Content-Security-Policy": "default-src 'none'; form-action 'self'; frame-ancestors 'none'"}
GONE: dict[int | str, dict[str, object]] = {410: {**problem_responses()[404], "description": "The link has expired"}}
COMMENT_FORM = {"requestBody": {"required": False, "content": {"application/x-www-form-urlencoded": {"schema": {
    "type": "object", "properties": {"comment": {"type": "string", "maxLength": service.COMMENT_MAX}}}}}}}


@router.get("/csat")
async def csat_report(
    conn: ConnDep, principal: StaffUser,
    from_: Annotated[datetime | None, Query(alias="from", description="resolved at or after (ISO 8601)")] = None,
    to: Annotated[datetime | None, Query(description="resolved before (ISO 8601)")] = None,
    team: Slug = None, category: Slug = None,
    limit: Annotated[int, Query(ge=0, le=1000, description="at most this many answers listed")] = 200,
) -> Report:
    """Agents and admins: the surveys of the tickets first resolved in the period, split by bot and person
    (asked, answered, average, distribution; every team's), and the latest answers of the tickets the caller may
    see (an agent: their teams', their own and unassigned ones)."""
    return await service.report(conn, principal=principal, start=from_, end=to, team=team, category=category,
                                limit=limit)


@router.get("/tickets/{ref}/csat")
async def ticket_csat(ref: str, conn: ConnDep, principal: CurrentUser) -> TicketCsat:
    """The ticket's survey and its answer, for whoever can see the ticket; 404 when it has none."""
    return await service.for_ticket(conn, principal=principal, ref=ref)


@page.get("/{token}", response_class=HTMLResponse, responses=GONE)
async def rating_page(token: Token, conn: ConnDep, settings: SettingsDep) -> HTMLResponse:
    """The page a rating link opens: the chosen score and a comment form. 403 for a changed link, 410 after it
    expired."""
    return HTMLResponse(await service.link_page(conn, settings, token=token), headers=PAGE_HEADERS)


@page.post("/{token}", response_class=HTMLResponse, responses=GONE, openapi_extra=COMMENT_FORM)
async def rate_by_link(token: Token, request: Request, conn: ConnDep, settings: SettingsDep) -> HTMLResponse:
    """Records the link's score with the optional ``comment`` (form field). 403 for a changed link, 410 after it
    expired, 409 when the survey was already answered."""
    form = parse_qs((await request.body()).decode("utf-8", "replace"))
    comment = (form.get("comment") or [""])[0].strip()
    return HTMLResponse(await service.answer_by_link(conn, settings, token=token, comment=comment or None),
                        headers=PAGE_HEADERS)
