"""How a run ends when it cannot finish: undo what it did (compensation, newest first), stop it with its reason,
and hand its ticket to the definition's team with the run's history as an internal note."""

from __future__ import annotations

import logging
from typing import Any

from psycopg.types.json import Jsonb

from api import sql
from api.auth.models import Principal
from api.db import Conn
from api.tickets import service as tickets
from api.tickets.models import Assignment, CommentCreate, Status, Transition
from api.workflows import operations, refs
from api.workflows.definitions import DirectoryStep, Workflow
from api.workflows.runtime import Runtime

Q = sql.load("api.workflows")
log = logging.getLogger(__name__)


def step_key(run_id: int, step_id: str, phase: str = "do") -> str:
    """The idempotency key of a step: the same on every attempt of it."""
    return f"wf-{run_id}-{step_id}" + ("" if phase == "do" else f"-{phase}")


async def compensate(conn: Conn, *, run: dict[str, Any], workflow: Workflow,
                     runtime: Runtime) -> tuple[int, list[str]]:
    """Runs the compensation of every succeeded step that declares one, newest first; returns how many it
    undid and the failures."""
    done = [r for r in await _steps(conn, run["id"]) if r["phase"] == "do" and r["status"] == "succeeded"]
    data = {"inputs": run["inputs"], "steps": run["results"]}
    failures, undone = [], 0
    for row in reversed(done):
        step = workflow.step(row["step_id"])
        if not isinstance(step, DirectoryStep) or step.compensate is None:
            continue
        params = {"run_id": run["id"], "step_id": step.id, "phase": "compensate"}
        claimed = await (await conn.execute(Q.claim_step, params | {
            "kind": "directory", "idempotency_key": step_key(run["id"], step.id, "compensate")})).fetchone()
        if claimed is not None and claimed["status"] == "succeeded":
            continue
        try:
            await operations.call(runtime, step.compensate.operation, refs.resolve(step.compensate.args, data),
                                  idempotency_key=step_key(run["id"], step.id, "compensate"))
        except Exception as exc:  # noqa: BLE001 - every undo is tried; the failures are reported on the ticket
            log.warning("compensation failed", extra={"run_id": run["id"], "step": step.id, "error": str(exc)})
            failures.append(f"{step.id}: {exc}")
            await conn.execute(Q.finish_step, params | {"status": "failed", "result": None, "error": str(exc)})
            continue
        await conn.execute(Q.finish_step, params | {"status": "succeeded", "result": Jsonb(None), "error": None})
        undone += 1
    return undone, failures


async def _steps(conn: Conn, run_id: int) -> list[dict[str, Any]]:
    return list(await (await conn.execute(Q.list_steps, {"run_id": run_id})).fetchall())


def history(rows: list[dict[str, Any]]) -> str:
    """The run's steps as lines for the ticket: what ran, how it ended, how long it took, the error."""
    lines = []
    for r in rows:
        took = f"{(r['finished_at'] - r['started_at']).total_seconds():.2f} s" if r["finished_at"] else "unfinished"
        undo = " (undo)" if r["phase"] == "compensate" else ""
        error = f" - {r['error']}" if r["error"] else ""
        lines.append(f"- {r['step_id']}{undo} [{r['kind']}]: {r['status']}, {r['attempts']} attempt(s), {took}{error}")
    return "\n".join(lines)


async def stop(conn: Conn, *, run: dict[str, Any], workflow: Workflow, runtime: Runtime, actor: Principal,
               reason: str, status: str = "failed", close_ticket: bool = False) -> None:
    """Compensates, ends the run (``status``, ``reason``) and hands its ticket to the definition's team, or with
    ``close_ticket`` cancels it (a denied request: the requester was told, nobody needs to act)."""
    undone, failures = await compensate(conn, run=run, workflow=workflow, runtime=runtime)
    if failures:
        reason += "; undo failed for " + ", ".join(failures)
    async with conn.transaction():
        await conn.execute(Q.finish_run, {"id": run["id"], "status": status, "reason": reason,
                                          "compensated": undone > 0})
        if run["ticket_id"] is not None and close_ticket:
            await close(conn, run=run, workflow=workflow, actor=actor, reason=reason)
        elif run["ticket_id"] is not None:
            await hand_off(conn, run=run, workflow=workflow, actor=actor, reason=reason)


async def hand_off(conn: Conn, *, run: dict[str, Any], workflow: Workflow, actor: Principal, reason: str) -> None:
    """Gives the run's ticket to the definition's team with the reason and the run's history (internal note)."""
    await _note(conn, run=run, workflow=workflow, actor=actor, headline=f"stopped: {reason}")
    await tickets.assign(conn, principal=actor, ref=run["ticket_id"],
                         data=Assignment(assignee_id=None, team=workflow.handoff_team),
                         meta={"workflow_run_id": run["id"]})


async def close(conn: Conn, *, run: dict[str, Any], workflow: Workflow, actor: Principal, reason: str) -> None:
    """Cancels the run's ticket with the reason, and the run's history as an internal note."""
    await _note(conn, run=run, workflow=workflow, actor=actor, headline=f"ended: {reason}")
    await tickets.transition(conn, principal=actor, ref=run["ticket_id"],
                             data=Transition(status=Status.cancelled, reason=reason[:500]))


async def _note(conn: Conn, *, run: dict[str, Any], workflow: Workflow, actor: Principal, headline: str) -> None:
    body = f"Workflow {workflow.name} (run {run['id']}) {headline}\n\nWhat it did:\n" + history(
        await _steps(conn, run["id"]))
    await tickets.add_comment(conn, principal=actor, ref=run["ticket_id"], data=CommentCreate(body=body, internal=True))
