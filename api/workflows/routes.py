"""Workflows and their runs: thin handlers over api.workflows.service and engine. Admins enable/disable
workflows; agents and admins read them and their runs, retry or cancel a run. The action server, acting in a chat
turn (its service token + the turn's assertion), starts a run for that turn's employee and reads it back."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, status

from api.auth.deps import AdminUser, StaffUser, TurnDep
from api.db import ConnDep
from api.deps import IdempotencyKey, SettingsDep
from api.errors import NotFound
from api.pagination import CursorParam
from api.workflows import access, engine, service, software
from api.workflows.access import CatalogueGroup
from api.workflows.models import EmployeeRun, Enabled, RunDetail, RunPage, RunStart, WorkflowDetail
from api.workflows.software import CatalogueItem

router = APIRouter(prefix="/workflows", tags=["workflows"])
RunStatus = Literal["running", "waiting", "succeeded", "failed", "denied", "cancelled"]


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


@router.get("/access_request/catalogue")
async def access_catalogue(_: TurnDep, settings: SettingsDep) -> list[CatalogueGroup]:
    """The groups the chat turn's employee may ask to join (the directory's requestable groups, by name): what the
    bot offers before it starts an ``access_request`` run with the chosen ``dn`` as ``group_dn``. 503 when no
    directory is configured, 502 when it cannot be read."""
    return await access.catalogue(settings)


@router.get("/software_request/catalogue")
async def software_catalogue(_: TurnDep, conn: ConnDep, settings: SettingsDep) -> list[CatalogueItem]:
    """The software the chat turn's employee may ask for (catalogue/software.yml beside the definitions, by name):
    what the bot offers before it starts a ``software_request`` run with the chosen ``slug`` as ``item``; each with
    whether the manager must approve it and the team that fulfils it."""
    return await software.catalogue(conn, settings)


@router.post("/{name}/runs", status_code=status.HTTP_201_CREATED)
async def start_run(name: str, data: RunStart, turn: TurnDep, conn: ConnDep, settings: SettingsDep,
                    idempotency_key: IdempotencyKey = None) -> EmployeeRun:
    """Starts ``name`` for the employee of the chat turn (the action server's token + X-Deskmate-Assertion): its
    ticket is opened and its first step queued; a step-up step waits for that employee's pass in this
    conversation. A ``username`` left out is the employee's own directory account; a group must be in the
    catalogue. Idempotency-Key: a retry returns the first run. 404 for an unknown or disabled workflow, 422 for
    missing, unknown or not offered inputs."""
    inputs = await access.chat_inputs(conn, settings, name=name, inputs=data.inputs, user_id=turn.user_id)
    return await service.start_for_employee(conn, name=name, inputs=inputs, user_id=turn.user_id,
                                            conversation_id=turn.conversation_id, idempotency_key=idempotency_key)


@router.get("/{name}/runs/{run_id}")
async def get_own_run(name: str, run_id: int, turn: TurnDep, conn: ConnDep) -> EmployeeRun:
    """A run of the turn's employee (404 for anyone else's): its state, whether it waits for the step-up check,
    whether the fix was verified, and its ticket."""
    run = await service.get_own_run(conn, run_id=run_id, user_id=turn.user_id)
    if run.workflow != name:
        raise NotFound(f"No {name} run {run_id} of yours.")
    return run


@router.post("/{name}/runs/{run_id}/not-fixed")
async def report_not_fixed(name: str, run_id: int, turn: TurnDep, conn: ConnDep) -> EmployeeRun:
    """The turn's employee says the fix did not work ("Can you sign in now?" → no): the run's resolved ticket is
    reopened and handed to the workflow's team with the run's history (again: no change). 409 unless the run
    succeeded; 404 for anyone else's run."""
    return await service.not_fixed(conn, name=name, run_id=run_id, user_id=turn.user_id)
