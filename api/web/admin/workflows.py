"""Admin pages of workflows (``/console/admin/workflows``): the workflows with their enable/disable switch, the
runs (by workflow and status), a run with its steps, retry and cancel, and the approvals waiting.

The same services and models as /api/v1/workflows: admins enable and disable workflows; agents and admins read
the runs, retry or cancel one, and decide the approval requests addressed to them (an admin any).
"""

from __future__ import annotations

from typing import Annotated, get_args
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response

from api.auth.deps import AdminUser, StaffUser
from api.auth.models import Principal, Role
from api.db import Conn, ConnDep
from api.deps import SettingsDep
from api.web.admin.forms import Refusal, attempt, back_to, render_page
from api.web.pages import render
from api.workflows import approval_service, engine, service
from api.workflows.models import DecisionIn, Enabled
from api.workflows.routes import RunStatus

router = APIRouter(prefix="/console/admin/workflows", tags=["web"], include_in_schema=False)
HOME = "/console/admin/workflows"
PAGE_SIZE = 25
STATUSES: tuple[str, ...] = get_args(RunStatus)
DONE = {"enabled": "Workflow enabled.", "disabled": "Workflow disabled.", "retried": "The run starts again at the "
        "step that failed.", "cancelled": "Run cancelled: what it did is being undone.",
        "approve": "Approved.", "deny": "Denied."}


async def _workflows_page(request: Request, conn: Conn, principal: Principal, *, done_key: str | None = None,
                          refusal: Refusal | None = None) -> Response:
    return render_page(request, "admin/workflows.html", {
        "principal": principal, "workflows": await service.list_workflows(conn),
        "may_toggle": principal.role is Role.admin, "done": DONE.get(done_key or "")}, refusal=refusal)


@router.get("")
async def workflows_page(request: Request, conn: ConnDep, principal: StaffUser, done: str | None = None) -> Response:
    """Every workflow: its version and whether new runs may start; admins switch it on and off."""
    return await _workflows_page(request, conn, principal, done_key=done)


@router.post("/{name}/enabled")
async def set_enabled(name: str, request: Request, conn: ConnDep, principal: AdminUser,
                      enabled: Annotated[str, Form()] = "") -> Response:
    """Enables or disables a workflow (as PUT /workflows/{name}/enabled): a disabled one starts no run."""

    async def change() -> bool:
        data = Enabled.model_validate({"enabled": enabled})
        await service.set_enabled(conn, name=name, enabled=data.enabled)
        return data.enabled
    result = await attempt(change)
    if isinstance(result, Refusal):
        return await _workflows_page(request, conn, principal, refusal=result)
    return back_to(HOME, "enabled" if result else "disabled")


@router.get("/runs")
async def runs_page(request: Request, conn: ConnDep, principal: StaffUser,
                    workflow: Annotated[str, Query(max_length=100)] = "", status: str = "",
                    cursor: Annotated[str | None, Query(max_length=100)] = None) -> Response:
    """Runs newest first, by workflow and status."""
    chosen = status if status in STATUSES else None
    page = await service.list_runs(conn, workflow=workflow or None, status=chosen, cursor=cursor, limit=PAGE_SIZE)
    params = {k: v for k, v in {"workflow": workflow, "status": chosen}.items() if v}
    return render(request, "admin/workflows_runs.html", {
        "principal": principal, "page": page, "workflow": workflow, "status": chosen, "statuses": STATUSES,
        "workflows": await service.list_workflows(conn),
        "next_url": f"{HOME}/runs?{urlencode(params | {'cursor': page.next_cursor})}" if page.next_cursor else None})


async def _run_page(request: Request, conn: Conn, principal: Principal, run_id: int, *, done_key: str | None = None,
                    refusal: Refusal | None = None) -> Response:
    return render_page(request, "admin/workflows_run.html", {
        "principal": principal, "run": await service.get_run(conn, run_id=run_id), "done": DONE.get(done_key or "")},
        refusal=refusal)


@router.get("/runs/{run_id:int}")
async def run_page(run_id: int, request: Request, conn: ConnDep, principal: StaffUser,
                   done: str | None = None) -> Response:
    """A run with each step's attempts, timings, result and error, the undos and who approved what."""
    return await _run_page(request, conn, principal, run_id, done_key=done)


@router.post("/runs/{run_id:int}/retry")
async def retry_run(run_id: int, request: Request, conn: ConnDep, principal: StaffUser) -> Response:
    """Starts a failed run again at the step that failed (as POST /workflows/runs/{id}/retry)."""
    result = await attempt(lambda: engine.retry(conn, run_id=run_id))
    if isinstance(result, Refusal):
        return await _run_page(request, conn, principal, run_id, refusal=result)
    return back_to(f"{HOME}/runs/{run_id}", "retried")


@router.post("/runs/{run_id:int}/cancel")
async def cancel_run(run_id: int, request: Request, conn: ConnDep, principal: StaffUser,
                     settings: SettingsDep) -> Response:
    """Cancels a running or waiting run (as POST /workflows/runs/{id}/cancel)."""
    result = await attempt(lambda: engine.cancel(conn, run_id=run_id, by=principal, settings=settings))
    if isinstance(result, Refusal):
        return await _run_page(request, conn, principal, run_id, refusal=result)
    return back_to(f"{HOME}/runs/{run_id}", "cancelled")


async def _approvals_page(request: Request, conn: Conn, principal: Principal, *, done_key: str | None = None,
                          refusal: Refusal | None = None) -> Response:
    waiting = await service.list_runs(conn, status="waiting", limit=PAGE_SIZE)
    return render_page(request, "admin/workflows_approvals.html", {
        "principal": principal, "pending": await approval_service.list_pending(conn, principal=principal),
        "waiting": waiting.items, "done": DONE.get(done_key or "")}, refusal=refusal)


@router.get("/approvals")
async def approvals_page(request: Request, conn: ConnDep, principal: StaffUser, done: str | None = None) -> Response:
    """The approval requests waiting for your decision, and every run waiting (for a decision or a time)."""
    return await _approvals_page(request, conn, principal, done_key=done)


@router.post("/approvals/{approval_id:int}/decision")
async def decide(approval_id: int, request: Request, conn: ConnDep, principal: StaffUser,
                 decision: Annotated[str, Form()] = "", comment: Annotated[str, Form()] = "") -> Response:
    """Approves or denies a request (as POST /workflows/approvals/{id}/decision)."""

    async def change() -> str:
        data = DecisionIn.model_validate({"decision": decision, "comment": comment.strip() or None})
        await approval_service.decide(conn, approval_id=approval_id, decision=data.decision, comment=data.comment,
                                      principal=principal)
        return data.decision
    result = await attempt(change)
    if isinstance(result, Refusal):
        return await _approvals_page(request, conn, principal, refusal=result)
    return back_to(f"{HOME}/approvals", result)
