"""Runs: start one, run its steps one job at a time, store the state after every step.

Guarantees (docs/workflows.md):
- A run's steps are procrastinate jobs sharing the lock ``workflow-run-<id>``: one at a time, in order. The
  job for the next step is deferred in the transaction that stores the step's result, so it exists exactly
  when the result does; that transaction also releases the lock from the step's job, so the next job can start
  while procrastinate is still finishing this one (job pickup, docs/workflows.md#performance).
- A step that reaches outside (directory, step-up) runs before that transaction, with an idempotency key that is
  the same on every attempt; a worker killed in between runs the step again with the same key and the
  connector applies it once. Steps that only touch Postgres run inside the transaction: once or not at all.
- Unexpected errors and ``DirectoryUnavailable`` are retried with backoff (``RetryStep``, procrastinate);
  refusals and the last failed attempt stop the run with its reason: compensation, ticket to a person.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg.types.json import Jsonb

from api import jobs, sql
from api.auth.models import Principal, Role
from api.db import Conn
from api.errors import Conflict, NotFound, ValidationFailed
from api.integrations.directory import DirectoryError, DirectoryUnavailable
from api.settings import Settings
from api.tickets import service as tickets
from api.tickets.models import SourceType, Status, TicketCreate
from api.workflows import refs, steps, stopping
from api.workflows import runtime as runtimes
from api.workflows.definitions import END, HANDOFF, TicketStep, Workflow
from api.workflows.endpoints import EndpointError

Q = sql.load("api.workflows")
QUEUE, TASK = "workflows", "workflows.step"
ACTIVE = ("running", "waiting")  # a waiting run waits at its current step (an approval, a wait step)
# errors a step raises on purpose; retrying helps only the transient ones (``_transient``)
PERMANENT = (DirectoryError, EndpointError, steps.NotExecutable, ValueError)


class RetryStep(Exception):
    """This attempt of a step failed and another is allowed (procrastinate retries the job with backoff)."""


async def system_actor(conn: Conn) -> Principal:
    """The engine's system user, with admin rights inside the process (it has no token)."""
    row = await (await conn.execute(Q.workflow_user)).fetchone()
    if row is None:
        raise NotFound("The workflows system user is missing; run the migrations.")
    return Principal(id=row["id"], email=row["email"], name=row["name"], role=Role.admin)


async def defer_step(conn: Conn, *, run_id: int, step_id: str, in_s: float | None = None) -> None:
    at = datetime.now(UTC) + timedelta(seconds=in_s) if in_s else None
    await jobs.defer(conn, TASK, queue=QUEUE, lock=f"workflow-run-{run_id}", schedule_at=at, run_id=run_id,
                     step_id=step_id)


def _check_inputs(wf: Workflow, inputs: dict[str, Any]) -> None:
    missing = [k for k, spec in wf.inputs.items() if spec.required and k not in inputs]
    unknown = sorted(set(inputs) - set(wf.inputs))
    if missing or unknown:
        raise ValidationFailed(f"Workflow {wf.name}: " + "; ".join(
            ([f"missing input(s) {', '.join(missing)}"] if missing else [])
            + ([f"unknown input(s) {', '.join(unknown)}"] if unknown else [])))


async def start(conn: Conn, *, name: str, inputs: dict[str, Any], requester_id: int,
                conversation_id: str | None = None) -> int:
    """Starts a run of the current version of ``name`` for ``requester_id``: its ticket (source CHATBOT) is
    opened and its first step queued, in one transaction. Returns the run's id.

    ``conversation_id``: the chat conversation it was started from (its step-up checks need a pass there)."""
    row = await (await conn.execute(Q.list_workflows, {"name": name})).fetchone()
    if row is None or not row["enabled"]:
        raise NotFound(f"No enabled workflow {name!r}.")
    wf = Workflow.model_validate(row["body"])
    _check_inputs(wf, inputs)
    actor = await system_actor(conn)
    async with conn.transaction():
        run = await (await conn.execute(Q.insert_run, {
            "definition_id": row["definition_id"], "workflow": name, "inputs": Jsonb(inputs),
            "current_step": wf.steps[0].id, "requester_id": requester_id,
            "conversation_id": conversation_id})).fetchone()
        assert run is not None
        ticket, _ = await tickets.create(conn, principal=actor, data=TicketCreate(
            title=refs.render(wf.ticket.title, {"inputs": inputs, "steps": {}}), type=wf.ticket.type,
            category=wf.ticket.category, source_type=SourceType.CHATBOT, requester_id=requester_id,
            source_reference=f"workflow-run-{run['id']}",
            integration_metadata={"workflow": name, "workflow_run_id": run["id"], "workflow_version": row["current_version"]}))
        await conn.execute(Q.set_run_ticket, {"id": run["id"], "ticket_id": ticket.id})
        await defer_step(conn, run_id=run["id"], step_id=wf.steps[0].id)
    return int(run["id"])


async def _lock(conn: Conn, run_id: int) -> dict[str, Any]:
    run = await (await conn.execute(Q.lock_run, {"id": run_id})).fetchone()
    if run is None:
        raise NotFound(f"No workflow run {run_id}.")
    return dict(run)


async def run_step(conn: Conn, *, run_id: int, step_id: str, attempt: int, settings: Settings,
                   job_id: int | None = None) -> str:
    """Runs one step of a run (``attempt``: earlier attempts of this job); returns what happened.

    ``job_id``: the procrastinate job running it; its lock on the run is released in the transaction that stores
    the step, so the next step's job, deferred there, starts at once (docs/workflows.md#performance).
    Raises RetryStep when the step failed and ``settings.workflow_step_attempts`` allows another attempt."""
    runtime, actor = runtimes.current(settings), await system_actor(conn)
    async with conn.transaction():
        run = await _lock(conn, run_id)
        if run["status"] not in ACTIVE or run["current_step"] not in (step_id, HANDOFF):
            return "nothing to do"
        wf = Workflow.model_validate(run["definition"])
        if run["current_step"] == HANDOFF:  # stopped before the hand-off was stored: finish it
            await stopping.stop(conn, run=run, workflow=wf, runtime=runtime, actor=actor, reason=run["reason"] or "")
            return "stopped"
        step = wf.step(step_id)
        key = stopping.step_key(run_id, step_id)
        claimed = await (await conn.execute(Q.claim_step, {
            "run_id": run_id, "step_id": step_id, "phase": "do", "kind": step.kind, "idempotency_key": key})).fetchone()
    assert claimed is not None
    ctx = steps.Context(conn=conn, run=run, runtime=runtime, actor=actor, key=key, settings=settings,
                        waited_s=claimed["waited_s"])
    try:
        if step.kind in steps.LOCAL:
            async with conn.transaction():
                outcome = await steps.execute(step, ctx)
                await _record(conn, wf, run, step.id, outcome, actor, job_id=job_id)
        else:
            outcome = await steps.execute(step, ctx)
            async with conn.transaction():
                await _record(conn, wf, run, step.id, outcome, actor, job_id=job_id)
    except PERMANENT as exc:
        if _transient(exc) and attempt + 1 < settings.workflow_step_attempts:
            await _note(conn, run_id, step_id, exc)
            raise RetryStep(str(exc)) from exc
        tries = f" after {attempt + 1} attempts" if _transient(exc) else ""
        return await _fail(conn, run, wf, step_id, f"step {step_id!r} failed{tries}: {exc}", runtime, actor)
    except Exception as exc:  # noqa: BLE001 - unexpected: retried, then the run stops with it
        if attempt + 1 < settings.workflow_step_attempts:
            await _note(conn, run_id, step_id, exc)
            raise RetryStep(str(exc)) from exc
        reason = f"step {step_id!r} failed after {attempt + 1} attempts: {type(exc).__name__}: {exc}"
        return await _fail(conn, run, wf, step_id, reason, runtime, actor)
    if outcome.next == HANDOFF:
        await stopping.stop(conn, run=await _fresh(conn, run_id), workflow=wf, runtime=runtime, actor=actor,
                            reason=outcome.reason or "handed to a person", status=outcome.stop_status,
                            close_ticket=outcome.close_ticket)
        return "stopped"
    return outcome.summary


def _transient(exc: BaseException) -> bool:
    """The directory or an external API did not answer (or was busy): another attempt may work."""
    return isinstance(exc, DirectoryUnavailable) or (isinstance(exc, EndpointError) and not exc.permanent)


async def _fresh(conn: Conn, run_id: int) -> dict[str, Any]:
    return dict(await (await conn.execute(Q.get_run, {"id": run_id})).fetchone() or {})


async def _note(conn: Conn, run_id: int, step_id: str, exc: BaseException) -> None:
    await conn.execute(Q.note_step_error, {"run_id": run_id, "step_id": step_id,
                                           "error": f"{type(exc).__name__}: {exc}"})


async def _fail(conn: Conn, run: dict[str, Any], wf: Workflow, step_id: str, reason: str,
                runtime: runtimes.Runtime, actor: Principal) -> str:
    async with conn.transaction():
        await conn.execute(Q.finish_step, {"run_id": run["id"], "step_id": step_id, "phase": "do",
                                           "status": "failed", "result": None, "error": reason})
        await _event(conn, run, actor, step_id, wf.step(step_id).kind, "failed", reason)
    await stopping.stop(conn, run=await _fresh(conn, run["id"]), workflow=wf, runtime=runtime, actor=actor,
                        reason=reason)
    return "stopped"


async def _event(conn: Conn, run: dict[str, Any], actor: Principal, step_id: str, kind: str, status: str,
                 summary: str) -> None:
    if run["ticket_id"] is not None:
        await tickets.record_workflow_event(conn, ticket_id=run["ticket_id"], actor_id=actor.id, after={
            "workflow": run["workflow"], "run_id": run["id"], "step": step_id, "kind": kind, "status": status,
            "summary": summary})


async def _record(conn: Conn, wf: Workflow, run: dict[str, Any], step_id: str, outcome: steps.Outcome,
                  actor: Principal, *, job_id: int | None) -> None:
    """Stores a step's outcome, its ticket event, and what comes next (the next job, the run's end). The job
    lets go of the run's lock here unless the run stops (compensation still runs under it)."""
    step = wf.step(step_id)
    if job_id is not None and outcome.next != HANDOFF:
        await jobs.release_lock(conn, job_id=job_id)
    if outcome.again_in_s is not None or outcome.parked:
        await _event(conn, run, actor, step_id, step.kind, "waiting", outcome.summary)
        if outcome.again_in_s is not None:
            await defer_step(conn, run_id=run["id"], step_id=step_id, in_s=outcome.again_in_s)
        return
    failed = outcome.verified is False or (outcome.next == HANDOFF and step.kind == "step_up")
    target = outcome.next or wf.following(step_id)
    await conn.execute(Q.finish_step, {"run_id": run["id"], "step_id": step_id, "phase": "do",
                                       "status": "failed" if failed else "succeeded",
                                       "result": Jsonb(outcome.result), "error": outcome.reason if failed else None})
    await conn.execute(Q.advance_run, {"id": run["id"], "step_id": step_id, "result": Jsonb(outcome.result),
                                       "current_step": target, "verified": outcome.verified,
                                       "reason": outcome.reason})
    await _event(conn, run, actor, step_id, step.kind, "failed" if failed else "succeeded", outcome.summary)
    if target == END:
        await _end(conn, wf, run, actor)
    elif target != HANDOFF:
        await defer_step(conn, run_id=run["id"], step_id=target)


async def _end(conn: Conn, wf: Workflow, run: dict[str, Any], actor: Principal) -> None:
    """The run got to its end: succeeded; a ticket it did not resolve or assign (a ticket step) goes to the team."""
    await conn.execute(Q.finish_run, {"id": run["id"], "status": "succeeded", "reason": None, "compensated": False})
    results = (await _fresh(conn, run["id"]))["results"]
    if run["ticket_id"] is None or any((results.get(s.id) or {}).get("action") == "assign" for s in wf.steps
                                       if isinstance(s, TicketStep)):
        return
    ticket = await tickets.get_or_raise(conn, principal=actor, ref=run["ticket_id"])
    if ticket.status is not Status.resolved:
        await stopping.hand_off(conn, run=run, workflow=wf, actor=actor,
                                reason="the run ended without resolving its ticket")


async def wake_step_up(conn: Conn, *, conversation_id: str) -> list[int]:
    """Queues the step-up step of every run of the conversation waiting at one, to run now: called when the
    employee passed the check (the chat gateway), so the run goes on at once instead of at its next 15 s
    poll. The poll's job is cancelled: queued before, it would hold the new one back until it is due (a lock's
    jobs start in the order they were queued). Returns the runs woken."""
    async with conn.transaction():
        rows = await (await conn.execute(Q.runs_at_step_up, {"conversation_id": conversation_id})).fetchall()
        for row in rows:
            await conn.execute(Q.cancel_later_jobs, {"lock": f"workflow-run-{row['id']}"})
            await defer_step(conn, run_id=row["id"], step_id=row["current_step"])
    return [row["id"] for row in rows]


async def retry(conn: Conn, *, run_id: int) -> None:
    """Starts a failed run again at the step that failed (not after compensation undid earlier steps)."""
    async with conn.transaction():
        run = await _lock(conn, run_id)
        if run["status"] != "failed" or run["compensated"]:
            why = "it was compensated; start a new run" if run["compensated"] else f"it is {run['status']}"
            raise Conflict(f"Run {run_id} cannot be retried: {why}.")
        failed = [r for r in await (await conn.execute(Q.list_steps, {"run_id": run_id})).fetchall()
                  if r["phase"] == "do" and r["status"] != "succeeded"]
        if not failed:
            raise Conflict(f"Run {run_id} has no failed step to retry (a condition handed it to a person).")
        await conn.execute(Q.restart_run, {"id": run_id, "current_step": failed[-1]["step_id"]})
        await defer_step(conn, run_id=run_id, step_id=failed[-1]["step_id"])


async def cancel(conn: Conn, *, run_id: int, by: Principal, settings: Settings) -> None:
    """Cancels a running run: its steps are undone (compensation) and its ticket goes to the team."""
    async with conn.transaction():
        run = await _lock(conn, run_id)
        if run["status"] not in ACTIVE:
            raise Conflict(f"Run {run_id} is {run['status']}; only a running or waiting run can be cancelled.")
        await conn.execute(Q.finish_run, {"id": run_id, "status": "cancelled", "reason": f"cancelled by {by.email}",
                                          "compensated": False})
    await stopping.stop(conn, run=await _fresh(conn, run_id), workflow=Workflow.model_validate(run["definition"]),
                        runtime=runtimes.current(settings), actor=await system_actor(conn),
                        reason=f"cancelled by {by.email}", status="cancelled")
