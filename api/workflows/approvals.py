"""Approval steps: someone must approve before the run goes on.

The first time the step runs it finds the approvers (the requester's manager in the directory, everyone with a
role, or a team's members), records the request (``workflow_approvals``), tells each approver in the app, by
e-mail with signed approve/deny links (a job per e-mail) and, with Slack on, in a Slack DM with Approve and Deny
buttons (a job each, api/channels/slack/approvals.py), with Teams on, in an Adaptive Card in their personal Teams
chat with the bot (api/channels/teams/approvals.py), queues the timeout job for the moment the request
expires, and parks the run (status ``waiting``; nothing polls). A decision (approval_service.py) or the timeout
queues the step again; then it reads the request:

- approved: the run goes on; the step's result says who approved, when, how, and their comment;
- denied: the requester is told, the run stops as ``denied`` and its ticket is cancelled (``on_deny: close``) or
  handed to the team (``on_deny: handoff``);
- expired: ``on_timeout: deny`` as a denial, ``on_timeout: handoff`` to the team.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from api import jobs, sql
from api.alerts import service as alerts
from api.integrations.directory import DirectoryError
from api.workflows import definitions as d
from api.workflows.context import Context, Outcome, tell

Q = sql.load("api.workflows", "approvals.sql")
QUEUE = "workflows"
MAIL_TASK, TIMEOUT_TASK = "workflows.approval_mail", "workflows.approval_timeout"
SLACK_TASK, TEAMS_TASK = "workflows.approval_slack", "workflows.approval_teams"


async def execute(step: d.ApprovalStep, ctx: Context) -> Outcome:
    row = await (await ctx.conn.execute(Q.get_for_step, {"run_id": ctx.run["id"], "step_id": step.id})).fetchone()
    if row is None:
        return await _request(step, ctx)
    if row["status"] == "pending" and row["expired"]:
        row = await (await ctx.conn.execute(Q.decide, {
            "id": row["id"], "status": "timed_out", "decided_by_id": None, "decided_by": None,
            "decided_via": "timeout", "comment": None})).fetchone()
        assert row is not None
    if row["status"] == "pending":  # queued again before a decision: go on waiting
        return Outcome(result=None, summary="still waiting for the approval", parked=True)
    return await _decided(step, ctx, dict(row))


async def _approvers(step: d.ApprovalStep, ctx: Context) -> tuple[list[dict[str, Any]], str]:
    """Who may decide (people: id or None, email, name; never the requester) and how to name them;
    DirectoryError for a manager who cannot be found."""
    if step.approver in ("role", "team"):
        query, who = ((Q.users_with_role, f"anyone with the role {step.role}") if step.approver == "role"
                      else (Q.team_members, f"the team {step.team}"))
        rows = await (await ctx.conn.execute(query, {"role": step.role, "team": step.team})).fetchall()
        return [r for r in rows if r["id"] != ctx.run["requester_id"]], who
    requester = await (await ctx.conn.execute(Q.user_by_id, {"id": ctx.run["requester_id"]})).fetchone()
    found = await ctx.runtime.directory.find_user(email=requester["email"]) if requester else None
    manager = await ctx.runtime.directory.manager(found) if found else None
    if manager is None or not manager.email:
        raise DirectoryError("the requester's manager (with an e-mail address) is not in the directory")
    if requester and manager.email.lower() == requester["email"].lower():
        raise DirectoryError("the directory names the requester as their own manager")
    account = await (await ctx.conn.execute(Q.user_by_email, {"email": manager.email})).fetchone()
    person = dict(account) if account else {"id": None, "email": manager.email, "name": manager.display_name}
    return [person], f"{person['name'] or manager.email} (the requester's manager)"


async def _request(step: d.ApprovalStep, ctx: Context) -> Outcome:
    people, who = await _approvers(step, ctx)
    if not people:
        return Outcome(result=None, summary="nobody to approve", next=d.HANDOFF,
                       reason=f"approval {step.id!r}: nobody can approve ({who} has no active member)")
    manager = people[0] if step.approver == "manager" else None
    row = await (await ctx.conn.execute(Q.insert, {
        "run_id": ctx.run["id"], "step_id": step.id, "approver": step.approver,
        "approver_email": manager["email"] if manager else None, "approver_user_id": manager["id"] if manager else None,
        "role": step.role, "team": step.team, "link_nonce": secrets.token_urlsafe(16),
        "timeout_s": step.timeout_s})).fetchone()
    assert row is not None
    await ctx.conn.execute(Q.set_run_waiting, {"id": ctx.run["id"]})
    asked = await (await ctx.conn.execute(Q.get, {"id": row["id"]})).fetchone()
    assert asked is not None
    for person in people:
        if person["id"] is not None:
            await alerts.notify(ctx.conn, user_id=person["id"], ticket_id=ctx.run["ticket_id"],
                                title=f"Approval needed: {asked['ticket_title'] or ctx.run['workflow']}",
                                body=f"{asked['requester_name']} asks for it. Approve or deny: "
                                     f"POST /api/v1/workflows/approvals/{row['id']}/decision")
        await jobs.defer(ctx.conn, MAIL_TASK, queue=QUEUE, approval_id=row["id"], to=person["email"])
        if ctx.settings is not None and ctx.settings.slack.configured:  # Approve/Deny buttons in a Slack DM too
            await jobs.defer(ctx.conn, SLACK_TASK, queue=QUEUE, approval_id=row["id"], to=person["email"])
        if ctx.settings is not None and ctx.settings.teams.configured:  # and as an Adaptive Card in Teams
            await jobs.defer(ctx.conn, TEAMS_TASK, queue=QUEUE, approval_id=row["id"], to=person["email"])
    await jobs.defer(ctx.conn, TIMEOUT_TASK, queue=QUEUE, schedule_at=row["expires_at"], approval_id=row["id"])
    await tell(ctx, f"Your request needs approval by {who}. You will hear from us when they decide.")
    return Outcome(result=None, summary=f"waiting for approval by {who}", parked=True)


def _decision(row: dict[str, Any]) -> dict[str, Any]:
    """Who decided what, when, how: the step's result (who approved what)."""
    at: datetime = row["decided_at"]
    return {"approval_id": row["id"], "decision": row["status"], "by": row["decided_by"], "via": row["decided_via"],
            "at": at.isoformat(timespec="seconds"), "comment": row["comment"]}


async def _decided(step: d.ApprovalStep, ctx: Context, row: dict[str, Any]) -> Outcome:
    result = _decision(row)
    if row["status"] == "approved":
        return Outcome(result=result, summary=f"approved by {row['decided_by']}")
    if row["status"] == "timed_out" and step.on_timeout == "handoff":
        await tell(ctx, "Your request was not decided in time; someone from the service desk will follow it up.")
        return Outcome(result=result, summary="approval timed out", next=d.HANDOFF,
                       reason=f"approval {step.id!r} was not decided within {step.timeout_s} s")
    if row["status"] == "timed_out":
        reason, told = (f"approval {step.id!r} was not decided within {step.timeout_s} s",
                        "Your request was not approved in time, so it is closed. Ask again if you still need it.")
    else:
        because = f": {row['comment']}" if row["comment"] else ""
        reason, told = (f"denied by {row['decided_by']}{because}", f"Your request was denied{because}")
    await tell(ctx, told)
    return Outcome(result=result, summary=reason, next=d.HANDOFF, reason=reason, stop_status="denied",
                   close_ticket=step.on_deny == "close")
