"""Reading and managing workflows and runs for the admin/agent API (starting and running: engine.py)."""

from __future__ import annotations

from typing import Any

from api import idempotency, pagination, sql
from api.auth.models import Principal
from api.db import Conn
from api.errors import Conflict, NotFound
from api.tickets import service as tickets
from api.tickets.models import Assignment, CommentCreate, Status, Transition
from api.workflows import engine, stopping
from api.workflows.definitions import Workflow
from api.workflows.models import Approval, EmployeeRun, Run, RunDetail, RunPage, StepRun, WorkflowDetail

Q = sql.load("api.workflows")
QA = sql.load("api.workflows", "approvals.sql")
RUN_CURSOR = "wr"
START_SCOPE = "workflows.run"


def _workflow(row: dict[str, Any]) -> WorkflowDetail:
    body = row["body"]
    return WorkflowDetail(name=row["name"], title=body["title"], description=body.get("description", ""),
                          enabled=row["enabled"], version=row["current_version"], content_hash=row["content_hash"],
                          updated_at=row["updated_at"], definition=body)


async def list_workflows(conn: Conn) -> list[WorkflowDetail]:
    return [_workflow(r) for r in await (await conn.execute(Q.list_workflows, {"name": None})).fetchall()]


async def get_or_raise(conn: Conn, *, name: str) -> WorkflowDetail:
    row = await (await conn.execute(Q.list_workflows, {"name": name})).fetchone()
    if row is None:
        raise NotFound(f"No workflow {name!r}.")
    return _workflow(row)


async def set_enabled(conn: Conn, *, name: str, enabled: bool) -> WorkflowDetail:
    if await (await conn.execute(Q.set_enabled, {"name": name, "enabled": enabled})).fetchone() is None:
        raise NotFound(f"No workflow {name!r}.")
    return await get_or_raise(conn, name=name)


async def list_runs(conn: Conn, *, workflow: str | None = None, status: str | None = None,
                    cursor: str | None = None, limit: int = 25) -> RunPage:
    rows = await (await conn.execute(Q.list_runs, {
        "workflow": workflow, "status": status, "before_id": pagination.decode(RUN_CURSOR, cursor),
        "limit": limit + 1})).fetchall()
    items, next_cursor = pagination.page([Run(**r) for r in rows], limit=limit, kind=RUN_CURSOR)
    return RunPage(items=items, next_cursor=next_cursor)


def _step(row: dict[str, Any]) -> StepRun:
    took = (row["finished_at"] - row["started_at"]).total_seconds() if row["finished_at"] else None
    return StepRun(**{k: row[k] for k in StepRun.model_fields if k in row}, duration_s=took)


async def get_run(conn: Conn, *, run_id: int) -> RunDetail:
    """A run with its step history (each execution and undo, with timings and errors)."""
    row = await (await conn.execute(Q.get_run, {"id": run_id})).fetchone()
    if row is None:
        raise NotFound(f"No workflow run {run_id}.")
    steps = await (await conn.execute(Q.list_steps, {"run_id": run_id})).fetchall()
    approvals = await (await conn.execute(QA.list_for_run, {"run_id": run_id})).fetchall()
    return RunDetail(**row, steps=[_step(s) for s in steps], approvals=[Approval(**a) for a in approvals])


async def list_for_ticket(conn: Conn, *, ticket_id: int) -> list[RunDetail]:
    """The runs linked to a ticket, oldest first, each with its steps and approvals (the agent console's ticket page)."""
    rows = await (await conn.execute(Q.list_ticket_runs, {"ticket_id": ticket_id})).fetchall()
    return [await get_run(conn, run_id=r["id"]) for r in rows]


async def start_for_employee(conn: Conn, *, name: str, inputs: dict[str, Any], user_id: int, conversation_id: str,
                             idempotency_key: str | None = None) -> EmployeeRun:
    """Starts ``name`` for the employee of a chat turn (``engine.start``); with ``idempotency_key``, a repeated
    request returns the run the first one started."""
    async with conn.transaction():
        if idempotency_key:
            earlier = await idempotency.claim(conn, user_id=user_id, scope=START_SCOPE, key=idempotency_key, payload={
                "name": name, "inputs": inputs, "conversation_id": conversation_id})
            if earlier is not None:
                return await get_own_run(conn, run_id=earlier, user_id=user_id)
        run_id = await engine.start(conn, name=name, inputs=inputs, requester_id=user_id,
                                    conversation_id=conversation_id)
        if idempotency_key:
            await idempotency.record(conn, user_id=user_id, scope=START_SCOPE, key=idempotency_key, resource_id=run_id)
    return await get_own_run(conn, run_id=run_id, user_id=user_id)


async def get_own_run(conn: Conn, *, run_id: int, user_id: int) -> EmployeeRun:
    """The employee's own run; NotFound for anyone else's (their existence is not revealed)."""
    row = await (await conn.execute(Q.get_own_run, {"id": run_id, "requester_id": user_id})).fetchone()
    if row is None:
        raise NotFound(f"No workflow run {run_id} of yours.")
    return EmployeeRun(**row)


async def not_fixed(conn: Conn, *, name: str, run_id: int, user_id: int) -> EmployeeRun:
    """The employee says the fix did not work (the bot asked "Can you sign in now?"): the succeeded run's resolved
    ticket is reopened and handed to the workflow's team with the run's history. Asked again, nothing changes.

    Raises NotFound (not this employee's ``name`` run), Conflict (the run has not succeeded)."""
    run = await get_own_run(conn, run_id=run_id, user_id=user_id)
    if run.workflow != name:
        raise NotFound(f"No {name} run {run_id} of yours.")
    if run.status != "succeeded" or run.ticket_id is None:
        raise Conflict(f"Run {run_id} is {run.status}; only a finished fix can be reported as not working.")
    actor = await engine.system_actor(conn)
    async with conn.transaction():
        ticket = await tickets.get_or_raise(conn, principal=actor, ref=run.ticket_id)
        if ticket.status is Status.resolved:
            await _reopen(conn, run_id=run_id, ticket_id=run.ticket_id, actor=actor)
    return await get_own_run(conn, run_id=run_id, user_id=user_id)


async def _reopen(conn: Conn, *, run_id: int, ticket_id: int, actor: Principal) -> None:
    row = await (await conn.execute(Q.lock_run, {"id": run_id})).fetchone()
    assert row is not None
    workflow = Workflow.model_validate(row["definition"])
    steps = list(await (await conn.execute(Q.list_steps, {"run_id": run_id})).fetchall())
    await tickets.transition(conn, principal=actor, ref=ticket_id, data=Transition(
        status=Status.in_progress, reason="The employee says it still does not work (asked in the chat)."))
    await tickets.add_comment(conn, principal=actor, ref=ticket_id, data=CommentCreate(internal=True, body=(
        f"Workflow {workflow.name} (run {run_id}) finished and the directory showed the fix, but the employee says "
        f"in the chat that it still does not work. Please contact them.\n\nWhat it did:\n{stopping.history(steps)}")))
    await tickets.assign(conn, principal=actor, ref=ticket_id, meta={"workflow_run_id": run_id},
                         data=Assignment(assignee_id=None, team=workflow.handoff_team))
