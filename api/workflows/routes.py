"""Workflows and their runs: thin handlers over api.workflows.service and engine. Admins enable/disable
workflows; agents and admins read them and their runs, retry or cancel a run."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, status

from api.auth.deps import AdminUser, StaffUser
from api.db import ConnDep
from api.deps import SettingsDep
from api.pagination import CursorParam
from api.workflows import engine, service
from api.workflows.models import Enabled, RunDetail, RunPage, WorkflowDetail

router = APIRouter(prefix="/workflows", tags=["workflows"])
RunStatus = Literal["running", "succeeded", "failed", "cancelled"]


@router.get("")
async def list_workflows(conn: ConnDep, _: StaffUser) -> list[WorkflowDetail]:
    """Every workflow with the definition new runs get."""
    return await service.list_workflows(conn)


@router.get("/runs")
async def list_runs(conn: ConnDep, _: StaffUser, workflow: str | None = None, status: RunStatus | None = None,
                    cursor: CursorParam = None, limit: Annotated[int, Query(ge=1, le=100)] = 25) -> RunPage:
    """Runs, newest first."""
    return await service.list_runs(conn, workflow=workflow, status=status, cursor=cursor, limit=limit)


@router.get("/runs/{run_id}")
async def get_run(run_id: int, conn: ConnDep, _: StaffUser) -> RunDetail:
    """A run with its step history: each step's attempts, timings, result and error, and the undos."""
    return await service.get_run(conn, run_id=run_id)


@router.post("/runs/{run_id}/retry", status_code=status.HTTP_202_ACCEPTED)
async def retry_run(run_id: int, conn: ConnDep, _: StaffUser) -> RunDetail:
    """Starts a failed run again at the step that failed (409 when it was compensated or is not failed)."""
    await engine.retry(conn, run_id=run_id)
    return await service.get_run(conn, run_id=run_id)


@router.post("/runs/{run_id}/cancel")
async def cancel_run(run_id: int, conn: ConnDep, principal: StaffUser, settings: SettingsDep) -> RunDetail:
    """Cancels a running run: what it did is undone and its ticket goes to the team."""
    await engine.cancel(conn, run_id=run_id, by=principal, settings=settings)
    return await service.get_run(conn, run_id=run_id)


@router.get("/{name}")
async def get_workflow(name: str, conn: ConnDep, _: StaffUser) -> WorkflowDetail:
    return await service.get_or_raise(conn, name=name)


@router.put("/{name}/enabled")
async def set_enabled(name: str, data: Enabled, conn: ConnDep, _: AdminUser) -> WorkflowDetail:
    """Enables or disables a workflow (admins); a disabled one starts no run, running ones go on."""
    return await service.set_enabled(conn, name=name, enabled=data.enabled)
