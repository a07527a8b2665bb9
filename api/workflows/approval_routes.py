"""Approval requests of workflow runs: the approver's inbox and decision (signed in), and the signed link of the
approver's e-mail (no session: the link's signature is the proof). Thin handlers over approval_service.py."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qs

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from api.auth.deps import CurrentUser
from api.db import ConnDep
from api.deps import SettingsDep
from api.errors import ValidationFailed
from api.workflows import approval_service as service
from api.workflows.models import ApprovalRequest, DecisionIn

router = APIRouter(prefix="/workflows/approvals", tags=["workflows"])
Token = Annotated[str, Query(alias="t", min_length=1, max_length=2000, description="the link's signed token")]
COMMENT_MAX = 2000


@router.get("/link", response_class=HTMLResponse)
async def link_page(t: Token, conn: ConnDep, settings: SettingsDep) -> HTMLResponse:
    """The page an e-mail link opens: the request and a button confirming the link's decision. 403 for a changed
    link, 410 after it expired."""
    return HTMLResponse(await service.link_page(conn, settings, token=t))


LINK_FORM = {"requestBody": {"required": False, "content": {"application/x-www-form-urlencoded": {"schema": {
    "type": "object", "properties": {"comment": {"type": "string", "maxLength": COMMENT_MAX}}}}}}}


@router.post("/link", openapi_extra=LINK_FORM)
async def decide_by_link(t: Token, request: Request, conn: ConnDep, settings: SettingsDep) -> ApprovalRequest:
    """Takes the link's decision for its recipient (form field ``comment``, optional). 403 for a changed link, 410
    after it expired, 409 when the request was already decided or the run no longer waits."""
    form = parse_qs((await request.body()).decode("utf-8", "replace"))
    comment = (form.get("comment") or [""])[0].strip()
    if len(comment) > COMMENT_MAX:
        raise ValidationFailed(f"The comment is longer than {COMMENT_MAX} characters.")
    return await service.decide_by_link(conn, settings, token=t, comment=comment or None)


@router.get("")
async def list_pending(conn: ConnDep, principal: CurrentUser) -> list[ApprovalRequest]:
    """The requests waiting for your decision (addressed to you, your role or your teams)."""
    return await service.list_pending(conn, principal=principal)


@router.get("/{approval_id}")
async def get_approval(approval_id: int, conn: ConnDep, principal: CurrentUser) -> ApprovalRequest:
    """A request you may decide (its approver, or an admin); 404 for anyone else."""
    return await service.get_for(conn, approval_id=approval_id, principal=principal)


@router.post("/{approval_id}/decision")
async def decide(approval_id: int, data: DecisionIn, conn: ConnDep, principal: CurrentUser) -> ApprovalRequest:
    """Approve or deny (its approver, or an admin; 404 for anyone else). 409 when it was already decided, expired,
    or the run no longer waits."""
    return await service.decide(conn, approval_id=approval_id, decision=data.decision, comment=data.comment,
                                principal=principal)
