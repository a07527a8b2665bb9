"""Each ticket's SLA clock.

A clock starts when the ticket is created (targets from the policy for its priority and team, due
times from the team's calendar). Ticket events move it: a staff reply or work starting is the first
response; pending (waiting on the requester) and resolved pause it, and the business time spent
paused is added back on resume; a priority or team change recomputes the due times. Warnings (at
``warn_ratio`` of a target) and breaches are raised by ``check`` jobs scheduled for the next
threshold, each raised once, as ticket events that alert rules react to. The clock owns
``ticket_sla``; due times and SLA events go on the ticket through the ticket service.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from api import jobs, sql
from api.auth.models import Principal
from api.db import Conn
from api.errors import NotFound
from api.sla import policies
from api.sla.calendar import Calendar, add_business_time, business_seconds_between
from api.sla.models import TargetState, TicketSla
from api.tickets import service as tickets
from api.types import OPEN_STATUSES, Status

Q = sql.load("api.sla")
TARGETS = ("respond", "resolve")
PAUSED_BY = frozenset({Status.pending, Status.resolved})
RUNNING = frozenset({Status.new, Status.assigned, Status.in_progress})
RESPONSE = frozenset({Status.in_progress, Status.pending, Status.resolved})


async def _start(conn: Conn, t: dict[str, Any]) -> dict[str, Any] | None:
    policy = await (await conn.execute(Q.policy_for, {"priority": t["priority"], "team_id": t["team_id"]})).fetchone()
    if policy is None:
        return None
    await conn.execute(Q.insert_clock, {
        "ticket_id": t["id"], "policy_id": policy["id"], "calendar_id": None, "started_at": t["created_at"],
        "respond_target_s": policy["respond_minutes"] * 60, "resolve_target_s": policy["resolve_minutes"] * 60,
        "warn_ratio": policy["warn_ratio"],
    })
    row = await (await conn.execute(Q.lock_clock, {"ticket_id": t["id"]})).fetchone()
    return dict(row) if row else None


def _responder(event: dict[str, Any], t: dict[str, Any], system_id: int) -> bool:
    return event["actor_id"] not in (None, system_id, t["requester_id"])


def _move(clock: dict[str, Any], event: dict[str, Any], t: dict[str, Any], cal: Calendar, system_id: int) -> None:
    """Applies one ticket event to the clock: first response, pause, resume, resolution."""
    at, after, before = event["created_at"], event["after"] or {}, event["before"] or {}
    if event["kind"] == "commented" and not after.get("internal") and _responder(event, t, system_id):
        clock["responded_at"] = clock["responded_at"] or at
    if event["kind"] != "status_changed" or "status" not in after:
        return
    new, old = Status(after["status"]), Status(before.get("status", after["status"]))
    if new in RESPONSE and _responder(event, t, system_id):
        clock["responded_at"] = clock["responded_at"] or at
    if new in PAUSED_BY or new in (Status.closed, Status.cancelled):
        clock["paused_at"] = clock["paused_at"] or at
        if new is not Status.pending:
            clock["resolved_at"] = clock["resolved_at"] or at
    elif new in RUNNING and clock["paused_at"] is not None:
        clock["paused_business_s"] += business_seconds_between(cal, clock["paused_at"], at)
        clock["paused_at"] = None
        if old is Status.resolved:
            clock["resolved_at"] = None


def _thresholds(clock: dict[str, Any], cal: Calendar) -> dict[str, datetime]:
    start, paused = clock["started_at"], clock["paused_business_s"]
    out = {}
    for target in TARGETS:
        seconds = clock[f"{target}_target_s"]
        out[f"{target}_due_at"] = add_business_time(cal, start, seconds + paused)
        out[f"{target}_warn_at"] = add_business_time(cal, start, seconds * clock["warn_ratio"] + paused)
    return out


def next_threshold(clock: dict[str, Any], due: Mapping[str, datetime | None]) -> datetime | None:
    """The earliest warning or breach not yet raised, for targets not yet met; None when paused or done."""
    if clock["paused_at"] is not None:
        return None
    pending = []
    for target, done in (("respond", clock["responded_at"]), ("resolve", clock["resolved_at"])):
        if done is not None:
            continue
        if clock[f"{target}_warned_at"] is None and clock[f"{target}_warn_at"]:
            pending.append(clock[f"{target}_warn_at"])
        if clock[f"{target}_breached_at"] is None and due[f"{target}_due_at"]:
            pending.append(due[f"{target}_due_at"])
    return min(pending, default=None)


async def _schedule(conn: Conn, *, ticket_id: int, generation: int, at: datetime | None) -> None:
    if at is not None:
        await jobs.defer(conn, "sla.check", queue="sla", schedule_at=at, ticket_id=ticket_id, generation=generation)


async def _apply_policy(conn: Conn, clock: dict[str, Any], t: dict[str, Any]) -> None:
    """The clock follows the policy of the ticket's current priority and team (when there is one)."""
    policy = await (await conn.execute(Q.policy_for, {"priority": t["priority"], "team_id": t["team_id"]})).fetchone()
    if policy is not None:
        clock.update(policy_id=policy["id"], respond_target_s=policy["respond_minutes"] * 60,
                     resolve_target_s=policy["resolve_minutes"] * 60, warn_ratio=policy["warn_ratio"])


async def on_event(conn: Conn, *, event: dict[str, Any], system_id: int) -> None:
    """Moves the ticket's clock for one of its events (the caller holds a transaction); the due times go on
    the ticket through the ticket service."""
    t = await (await conn.execute(Q.ticket_for_sla, {"ticket_id": event["ticket_id"]})).fetchone()
    if t is None:
        return
    clock = await (await conn.execute(Q.lock_clock, {"ticket_id": t["id"]})).fetchone()
    if clock is None:
        if t["status"] not in OPEN_STATUSES or (clock := await _start(conn, t)) is None:
            return
    clock = dict(clock)
    await _apply_policy(conn, clock, t)
    clock["calendar_id"], cal = await policies.calendar_for_team(conn, team_id=t["team_id"])
    moved = {k: clock[k] for k in ("responded_at", "resolved_at", "paused_at")}
    _move(clock, dict(event), t, cal, system_id)
    times = _thresholds(clock, cal)
    due = {k: times[k] for k in ("respond_due_at", "resolve_due_at")}
    changed = (due["respond_due_at"], due["resolve_due_at"], times["respond_warn_at"], times["resolve_warn_at"]) != (
        t["respond_due_at"], t["resolve_due_at"], clock["respond_warn_at"], clock["resolve_warn_at"]) or any(
        clock[k] != v for k, v in moved.items())
    clock.update(respond_warn_at=times["respond_warn_at"], resolve_warn_at=times["resolve_warn_at"])
    if changed:  # a new generation: timers scheduled for the old times do nothing
        clock["generation"] += 1
    await conn.execute(Q.save_clock, clock)
    await tickets.set_sla_due(conn, ticket_id=t["id"], actor_id=system_id, **due)
    if changed:
        await _schedule(conn, ticket_id=t["id"], generation=clock["generation"], at=next_threshold(clock, due))


def _due_now(clock: dict[str, Any], t: dict[str, Any], now: datetime) -> list[tuple[str, str, datetime]]:
    """The warnings and breaches due at ``now`` and not raised yet, marked raised on ``clock``:
    (kind, target, due time) each."""
    out = []
    for target, done in (("respond", clock["responded_at"]), ("resolve", clock["resolved_at"])):
        due, warn = t[f"{target}_due_at"], clock[f"{target}_warn_at"]
        if done is not None:
            continue
        if clock[f"{target}_breached_at"] is None and due is not None and due <= now:
            clock[f"{target}_breached_at"] = now
            clock[f"{target}_warned_at"] = clock[f"{target}_warned_at"] or now
            out.append(("sla_breach", target, due))
        elif clock[f"{target}_warned_at"] is None and warn is not None and warn <= now:
            clock[f"{target}_warned_at"] = now
            out.append(("sla_warning", target, due))
    return out


async def check(conn: Conn, *, ticket_id: int, generation: int | None, system_id: int) -> list[str]:
    """Raises the warnings and breaches that are due (each once) as ticket events; schedules the next.

    ``generation``: the clock version the job was scheduled for; a newer clock makes the job a no-op.
    None (the sweeper) checks whatever the clock is now. Returns the events raised.
    """
    async with conn.transaction():
        clock = await (await conn.execute(Q.lock_clock, {"ticket_id": ticket_id})).fetchone()
        if clock is None or clock["paused_at"] is not None or generation not in (None, clock["generation"]):
            return []
        clock = dict(clock)
        t = await (await conn.execute(Q.ticket_for_sla, {"ticket_id": ticket_id})).fetchone()
        if t is None or t["status"] not in OPEN_STATUSES:
            return []
        now = (await (await conn.execute(Q.db_now)).fetchone())["now"]  # type: ignore[index]
        raised = _due_now(clock, t, now)
        for kind, target, due in raised:
            await tickets.record_sla_event(conn, ticket_id=ticket_id, kind=kind, target=target, due_at=due,
                                           actor_id=system_id)
        if raised:
            await conn.execute(Q.save_clock, clock)
        if raised or generation is not None:  # the timer chain of this generation goes on
            due_times = {"respond_due_at": t["respond_due_at"], "resolve_due_at": t["resolve_due_at"]}
            upcoming = next_threshold(clock, due_times)
            if upcoming is not None and upcoming > now:
                await _schedule(conn, ticket_id=ticket_id, generation=clock["generation"], at=upcoming)
    return [f"{kind}:{target}" for kind, target, _ in raised]


async def overdue(conn: Conn, *, limit: int = 500) -> list[int]:
    """Tickets whose clock has a warning or breach due but not raised (for the periodic sweep)."""
    return [r["ticket_id"] for r in await (await conn.execute(Q.overdue_clocks, {"limit": limit})).fetchall()]


def _state(done: datetime | None, due: datetime | None, breached: datetime | None,
           paused: datetime | None) -> TargetState:
    if done is not None:
        return "met" if due is None or done <= due else "met_late"
    return "breached" if breached else "paused" if paused else "running"


async def get_ticket_sla(conn: Conn, *, ref: str | int, principal: Principal) -> TicketSla:
    """The SLA clock of a ticket (id or number) the principal may see; NotFound otherwise or without a clock."""
    ticket_id = (await tickets.get_or_raise(conn, principal=principal, ref=ref)).id
    row = await (await conn.execute(Q.get_clock, {"ticket_id": ticket_id})).fetchone()
    if row is None:
        raise NotFound(f"Ticket {ticket_id} has no SLA clock (no policy for its priority, or triage is off).")
    return TicketSla(**row, respond=_state(row["responded_at"], row["respond_due_at"], row["respond_breached_at"],
                                           row["paused_at"]),
                     resolve=_state(row["resolved_at"], row["resolve_due_at"], row["resolve_breached_at"],
                                    row["paused_at"]))
