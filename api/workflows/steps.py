"""What each step kind does. An executor gets the step and the run's context and returns an ``Outcome``; the
engine (engine.py) stores it and moves on. Executors of ``LOCAL`` kinds only touch Postgres and run in the same
transaction as the state write; the others reach outside (directory, step-up) and run before it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from api.tickets import service as tickets
from api.tickets.models import Assignment, CommentCreate, Status, Transition
from api.workflows import approvals, endpoints, functions, operations, refs, waits
from api.workflows import definitions as d
from api.workflows.context import Context, Outcome, tell
from api.workflows.runtime import StepUpRequest

LOCAL = frozenset({"condition", "code", "ticket", "approval", "wait"})
STEP_UP_AGAIN_S = 15.0  # a pending step-up check is asked again after this long


class NotExecutable(Exception):
    """A step this engine cannot run as configured (an http step without the settings)."""


async def _code(step: d.CodeStep, ctx: Context) -> Outcome:
    args = refs.resolve(step.args, ctx.data)
    if step.function in functions.WITH_SETTINGS:
        if ctx.settings is None:
            raise NotExecutable(f"step {step.id!r}: {step.function} needs the settings")
        args["settings"] = ctx.settings
    result = await functions.FUNCTIONS[step.function](**args)
    return Outcome(result=result, summary=f"{step.function} done")


async def _directory(step: d.DirectoryStep, ctx: Context) -> Outcome:
    result = await operations.call(ctx.runtime, step.operation, refs.resolve(step.args, ctx.data),
                                   idempotency_key=ctx.key)
    return Outcome(result=result, summary=f"directory {step.operation}: {'nothing found' if result is None else 'done'}")


def _matches(observed: Any, expect: dict[str, Any]) -> bool:
    if isinstance(observed, list):
        return any(_matches(item, expect) for item in observed)
    return isinstance(observed, dict) and all(observed.get(k) == v for k, v in expect.items())


async def _verify(step: d.VerifyStep, ctx: Context) -> Outcome:
    observed = await operations.call(ctx.runtime, step.operation, refs.resolve(step.args, ctx.data),
                                     idempotency_key=ctx.key)
    expect = refs.resolve(step.expect, ctx.data)
    if _matches(observed, expect):
        return Outcome(result={"passed": True, "expected": expect}, summary="verified", verified=True)
    return Outcome(result={"passed": False, "expected": expect}, summary="verification failed", verified=False,
                   next=d.HANDOFF, reason=f"verification failed: the directory does not show {expect}")


async def _condition(step: d.ConditionStep, ctx: Context) -> Outcome:
    value = refs.resolve(step.value, ctx.data)
    holds = {"is_null": value is None, "not_null": value is not None, "is_true": value is True,
             "is_false": value is False, "equals": value == step.equals}[step.test]
    target = step.then if holds else step.else_
    reason = f"condition {step.id!r} ({step.value} {step.test}) sent the run to a person" if target == d.HANDOFF else None
    return Outcome(result={"holds": holds}, summary=f"{step.test}: {holds} -> {target}", next=target, reason=reason)


async def _ticket(step: d.TicketStep, ctx: Context) -> Outcome:
    text = refs.render(step.text, ctx.data) if step.text else None
    ticket_id = ctx.run["ticket_id"]
    if step.action == "handoff":
        return Outcome(result=None, summary="handed to a person", next=d.HANDOFF, reason=text or "the workflow says so")
    if step.action == "resolve" and ctx.run["verified"] is not True:
        return Outcome(result=None, summary="not verified", next=d.HANDOFF, reason="resolution without verification")
    if step.action == "assign":  # to a team, for a person to fulfil: the text is their internal note
        team = str(refs.resolve(step.team, ctx.data))
        if text:
            await tickets.add_comment(ctx.conn, principal=ctx.actor, ref=ticket_id,
                                      data=CommentCreate(body=text, internal=True))
        await tickets.assign(ctx.conn, principal=ctx.actor, ref=ticket_id, data=Assignment(assignee_id=None, team=team),
                             meta={"workflow_run_id": ctx.run["id"]})
        return Outcome(result={"action": "assign", "team": team}, summary=f"ticket assigned to the team {team}")
    if text:
        await tickets.add_comment(ctx.conn, principal=ctx.actor, ref=ticket_id, data=CommentCreate(body=text))
    if step.action == "resolve":
        await tickets.transition(ctx.conn, principal=ctx.actor, ref=ticket_id,
                                 data=Transition(status=Status.resolved, reason="resolved by a verified workflow run"),
                                 resolution="auto")
    return Outcome(result={"action": step.action}, summary=f"ticket {step.action}")


async def _step_up(step: d.StepUpStep, ctx: Context) -> Outcome:
    username = refs.resolve(step.username, ctx.data) if step.username else None
    conversation = ctx.run.get("conversation_id")
    answer = await ctx.runtime.step_up(ctx.conn, StepUpRequest(
        run_id=ctx.run["id"], requester_id=ctx.run["requester_id"], username=username, factor=step.factor,
        conversation_id=str(conversation) if conversation is not None else None))
    timeout_s = ctx.settings.workflow_step_up_timeout_s if ctx.settings else None
    if answer == "pending" and timeout_s is not None and ctx.waited_s >= timeout_s:
        return Outcome(result={"passed": False}, summary="step-up: no pass in time", next=d.HANDOFF,
                       reason=f"no step-up pass within {timeout_s / 60:g} min: the employee did not confirm "
                              "who they are in time (DESKMATE_WORKFLOW_STEP_UP_TIMEOUT_S)")
    if answer == "pending":
        return Outcome(result=None, summary="step-up: waiting for the code", again_in_s=STEP_UP_AGAIN_S)
    if answer == "failed":
        return Outcome(result={"passed": False}, summary="step-up failed", next=d.HANDOFF,
                       reason="the step-up identity check failed")
    return Outcome(result={"passed": True}, summary="step-up passed")


async def _notify(step: d.NotifyStep, ctx: Context) -> Outcome:
    await tell(ctx, refs.render(step.text, ctx.data))
    return Outcome(result={"to": step.to}, summary=f"told the {step.to}")


async def _http(step: d.HttpStep, ctx: Context) -> Outcome:
    if ctx.settings is None:
        raise NotExecutable(f"step {step.id!r}: http steps need the settings (DESKMATE_WORKFLOW_ENDPOINTS)")
    result = await endpoints.call(ctx.settings, step, data=ctx.data, key=ctx.key)
    return Outcome(result=result, summary=f"{step.method} {step.endpoint}: {result['status']}")


EXECUTORS: dict[str, Callable[[Any, Context], Awaitable[Outcome]]] = {
    "code": _code, "directory": _directory, "verify": _verify, "condition": _condition, "ticket": _ticket,
    "step_up": _step_up, "notify": _notify, "approval": approvals.execute, "wait": waits.execute, "http": _http,
}


async def execute(step: d.Step, ctx: Context) -> Outcome:
    return await EXECUTORS[step.kind](step, ctx)
