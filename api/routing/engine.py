"""The routing engine: classify a ticket, choose its team (team chosen at creation, rules, category,
fallback) and agent (skills, workload, shifts, round-robin), store the decision and assign.

Dry runs (``dry_run``) change nothing; ``apply`` re-routes an existing ticket on request; ``triage_new``
is the triage pipeline's step for a new ticket.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from psycopg.types.json import Jsonb

from api import sql
from api.auth.models import Principal, Role
from api.db import Conn
from api.errors import Forbidden, NotFound, ValidationFailed
from api.kb.embedding import Embedder
from api.routing import classify as classifier
from api.routing import rules
from api.routing.decide import Outcome, Subject, Team, candidates, choose_agent, describe, match, rule_confidence
from api.routing.models import Classification, Decision, Probe, Step
from api.settings import Settings
from api.tickets import service as tickets
from api.tickets.models import Assignment, Ticket, TicketUpdate
from api.types import OPEN_STATUSES, priority

Q = sql.load("api.routing")


async def triage_principal(conn: Conn) -> Principal:
    """The triage system actor, with admin rights inside the process (it has no token)."""
    row = await (await conn.execute(Q.triage_user)).fetchone()
    if row is None:
        raise NotFound("The triage system user is missing; run the migrations.")
    return Principal(id=row["id"], email=row["email"], name=row["name"], role=Role.admin)


async def _pool(conn: Conn, *, team_id: int | None, user_id: int | None = None, skill: str | None,
                ticket_id: int | None, now: datetime) -> list[Any]:
    rows = await (await conn.execute(Q.agents, {
        "team_id": team_id, "user_id": user_id, "skill": skill, "ticket_id": ticket_id})).fetchall()
    return candidates(list(rows), skill=skill, now=now)


async def _last_agent(conn: Conn, *, team_id: int, lock: bool) -> int | None:
    if lock:
        await conn.execute(Q.ensure_team_state, {"team_id": team_id})
        row = await (await conn.execute(Q.lock_team_state, {"team_id": team_id})).fetchone()
    else:
        row = await (await conn.execute(Q.read_team_state, {"team_id": team_id})).fetchone()
    return row["last_agent_id"] if row else None


async def _choose_team(conn: Conn, out: Outcome, s: Subject, fallback: str | None) -> None:
    """Step 1: the team chosen at creation, else the first matching rule, else the category's team, else the fallback."""
    if s.team:
        out.team, out.confidence = await rules.get_team(conn, slug=s.team), 1.0
        out.team_reason = f"{out.team.name} team as chosen when the ticket was opened"
        out.steps.append(Step(step="team", detail=out.team_reason))
        return
    enabled = await rules.list_rules(conn, enabled_only=True)
    for rule in enabled:
        held = match(rule.conditions, s)
        if held is not None:
            out.rule, out.team, out.confidence = rule, await rules.get_team(conn, slug=rule.team), rule_confidence(rule, s)
            out.team_reason = f"{out.team.name} team by rule '{rule.name}'"
            out.steps.append(Step(step="rules", detail=f"rule '{rule.name}' matched: {', '.join(held) or 'no conditions'}"))
            return
    out.steps.append(Step(step="rules", detail=f"none of {len(enabled)} enabled rules matched"))
    row = await (await conn.execute(Q.category_team, {"category": s.category})).fetchone() if s.category else None
    if row:
        out.team = Team(**row)
        out.confidence = 1.0 if s.category_explicit else s.category_confidence
        sure = "" if s.category_explicit else f" ({out.confidence:.0%} confident)"
        out.team_reason = f"{out.team.name} team by category {s.category}{sure}"
        out.steps.append(Step(step="category", detail=out.team_reason))
    elif fallback:
        out.team, out.confidence = await rules.get_team(conn, slug=fallback), s.category_confidence
        out.team_reason = f"{out.team.name} team as the fallback: no rule matched and no category team"
        out.steps.append(Step(step="fallback", detail=out.team_reason))


async def route(conn: Conn, *, s: Subject, ticket_id: int | None, fallback: str | None, lock: bool,
                now: datetime | None = None) -> Outcome:
    """Chooses the team and agent for ``s``, recording every step. ``lock``: serialise with other
    assignments to the team and move its round-robin position (apply); False for dry runs."""
    now = now or datetime.now(UTC)
    out = Outcome(team=None)
    await _choose_team(conn, out, s, fallback)
    if out.team is None:
        out.steps.append(Step(step="queue", detail="no team: set DESKMATE_ROUTING_FALLBACK_TEAM"))
        out.team_reason = "Unrouted: no rule, no category team and no fallback team"
        return out
    skill = out.rule.skill if out.rule and out.rule.skill else s.category
    if out.rule and out.rule.agent_id and await _rule_agent(conn, out, skill=skill, ticket_id=ticket_id, now=now):
        return out
    team = out.team
    pool = await _pool(conn, team_id=team.id, skill=skill, ticket_id=ticket_id, now=now)
    out.candidates = pool
    if choose_agent(out, pool, await _last_agent(conn, team_id=team.id, lock=lock)):
        await _advance(conn, out, lock)
        return out
    if not any(c.on_shift for c in pool) and fallback and fallback != team.slug:
        if await _overflow(conn, out, fallback=fallback, skill=skill, ticket_id=ticket_id, now=now, lock=lock):
            return out
    why = "everyone on shift is at capacity" if any(c.on_shift for c in pool) else "nobody is on shift"
    out.steps.append(Step(step="queue", detail=f"{team.name} queue: {why}"))
    out.agent_reason = f"left in the team queue: {why}"
    return out


async def _rule_agent(conn: Conn, out: Outcome, *, skill: str | None, ticket_id: int | None, now: datetime) -> bool:
    assert out.rule is not None and out.rule.agent_id is not None
    pool = await _pool(conn, team_id=None, user_id=out.rule.agent_id, skill=skill, ticket_id=ticket_id, now=now)
    if pool and pool[0].eligible:
        out.agent, out.candidates = pool[0], pool
        out.agent_reason = describe(pool[0]) + " (named by the rule)"
        out.steps.append(Step(step="agent", detail=f"the rule names {pool[0].name}, who is free"))
        return True
    state = pool[0].note if pool else "not an active agent"
    out.steps.append(Step(step="agent", detail=f"the rule names agent {out.rule.agent_id} ({state}); choosing within the team"))
    return False


async def _overflow(conn: Conn, out: Outcome, *, fallback: str, skill: str | None, ticket_id: int | None,
                    now: datetime, lock: bool) -> bool:
    """Nobody of the team is on shift: the fallback team takes the ticket when one of them can."""
    assert out.team is not None
    home, team = out.team, await rules.get_team(conn, slug=fallback)
    pool = await _pool(conn, team_id=team.id, skill=skill, ticket_id=ticket_id, now=now)
    trial = Outcome(team=team)
    if not choose_agent(trial, pool, await _last_agent(conn, team_id=team.id, lock=lock)):
        out.steps.append(Step(step="fallback", detail=f"nobody on shift in {home.name}, nobody free in {team.name} either"))
        return False
    out.steps.append(Step(step="fallback", detail=f"nobody on shift in {home.name}; trying {team.name}"))
    out.steps.extend(trial.steps)
    out.team, out.agent, out.candidates, out.agent_reason = team, trial.agent, pool, trial.agent_reason
    out.team_reason = f"{team.name} team as the fallback ({home.name} has nobody on shift; {out.team_reason})"
    await _advance(conn, out, lock)
    return True


async def _advance(conn: Conn, out: Outcome, lock: bool) -> None:
    if lock and out.team and out.agent:
        await conn.execute(Q.set_team_state, {"team_id": out.team.id, "agent_id": out.agent.agent_id})


def _decision(out: Outcome, classification: Classification, **extra: Any) -> Decision:
    return Decision(
        team=out.team.slug if out.team else None, team_id=out.team.id if out.team else None,
        agent_id=out.agent.agent_id if out.agent else None, agent_name=out.agent.name if out.agent else None,
        rule_id=out.rule.id if out.rule else None, rule_name=out.rule.name if out.rule else None,
        confidence=round(min(max(out.confidence, 0.0), 1.0), 3), reason=out.reason, classification=classification,
        candidates=out.candidates, steps=out.steps, **extra,
    )


async def _requester(conn: Conn, user_id: int) -> dict[str, Any]:
    row = await (await conn.execute(Q.requester, {"id": user_id})).fetchone()
    if row is None:
        raise ValidationFailed(f"No user {user_id}.")
    return dict(row)


def _subject(*, title: str, description: str, category: str | None, explicit: bool, prio: int, source: str,
             c: Classification, requester: dict[str, Any], team: str | None, min_confidence: float) -> Subject:
    if category is None and c.category and c.confidence >= min_confidence:
        category = c.category
    return Subject(
        text=classifier.ticket_text(title, description), category=category,
        category_confidence=c.confidence if category == c.category else 0.0, category_explicit=explicit,
        priority=prio, source_type=source, intent=c.intent, intent_confidence=c.intent_confidence,
        department=requester["department"], vip=bool(requester["vip"]), team=team,
    )


async def dry_run(conn: Conn, *, probe: Probe, principal: Principal, settings: Settings, embedder: Embedder) -> Decision:
    """Classifies and routes a payload as if it were a new ticket; stores and changes nothing."""
    requester = await _requester(conn, probe.requester_id or principal.id)
    c = await classifier.classify(
        conn, embedder=embedder, title=probe.title, description=probe.description, urgency=probe.urgency,
        impact=probe.impact, vip=bool(requester["vip"]), metadata=probe.integration_metadata)
    s = _subject(title=probe.title, description=probe.description, category=probe.category,
                 explicit=probe.category is not None, prio=priority(c.urgency, c.impact), source=probe.source_type,
                 c=c, requester=requester, team=probe.team, min_confidence=settings.triage_min_confidence)
    out = await route(conn, s=s, ticket_id=None, fallback=settings.routing_fallback_team, lock=False)
    return _decision(out, c)


async def _classify_ticket(conn: Conn, t: Ticket, requester: dict[str, Any], embedder: Embedder) -> Classification:
    return await classifier.classify(
        conn, embedder=embedder, title=t.title, description=t.description, urgency=t.urgency, impact=t.impact,
        vip=bool(requester["vip"]), metadata=t.integration_metadata)


async def _store_and_assign(conn: Conn, *, t: Ticket, out: Outcome, c: Classification, trigger: str,
                            actor_id: int | None, system: Principal) -> Decision:
    row = await (await conn.execute(Q.insert_decision, {
        "ticket_id": t.id, "trigger": trigger, "actor_id": actor_id,
        "rule_id": out.rule.id if out.rule else None, "rule_name": out.rule.name if out.rule else None,
        "team_id": out.team.id if out.team else None, "agent_id": out.agent.agent_id if out.agent else None,
        "confidence": round(min(max(out.confidence, 0.0), 1.0), 3), "reason": out.reason,
        "classification": Jsonb(c.model_dump(mode="json")),
        "candidates": Jsonb([x.model_dump(mode="json") for x in out.candidates]),
        "steps": Jsonb([x.model_dump(mode="json") for x in out.steps]),
    })).fetchone()
    assert row is not None
    if out.team and (out.team.id != t.team_id or (out.agent and out.agent.agent_id != t.assignee_id)):
        meta = {"routing_decision_id": row["id"], "reason": out.reason} | ({"requested_by": actor_id} if actor_id else {})
        await tickets.assign(conn, principal=system, ref=t.id, meta=meta, data=Assignment(
            assignee_id=out.agent.agent_id if out.agent else t.assignee_id, team=out.team.slug))
    return _decision(out, c, id=row["id"], ticket_id=t.id, created_at=row["created_at"])


async def _category_explicit(conn: Conn, t: Ticket, system_id: int) -> bool:
    row = await (await conn.execute(Q.category_set_by, {"ticket_id": t.id})).fetchone()
    return t.category is not None and row is not None and row["actor_id"] != system_id


async def apply(conn: Conn, *, ref: str | int, actor: Principal, settings: Settings, embedder: Embedder) -> Decision:
    """Routes an existing ticket (id or number) now on ``actor``'s request, re-routing it if it was routed
    before, and assigns it. NotFound unless the actor sees it; Forbidden unless the actor works on it."""
    ticket = await tickets.get_or_raise(conn, principal=actor, ref=ref)
    if not tickets.can_work(actor, ticket.model_dump()):
        raise Forbidden("Route tickets of your teams, or ones assigned to you.")
    return await reroute(conn, ticket_id=ticket.id, settings=settings, embedder=embedder, actor=actor)


async def reroute(conn: Conn, *, ticket_id: int, settings: Settings, embedder: Embedder,
                  actor: Principal | None = None) -> Decision:
    """Routes an existing ticket now (re-routing it if it was routed before) and assigns it; no rights checked."""
    system = await triage_principal(conn)
    t = await tickets.get_or_raise(conn, principal=system, ref=ticket_id)
    requester = await _requester(conn, t.requester_id)
    c = await _classify_ticket(conn, t, requester, embedder)
    explicit = await _category_explicit(conn, t, system.id)
    async with conn.transaction():
        s = _subject(title=t.title, description=t.description, category=t.category, explicit=explicit,
                     prio=t.priority, source=t.source_type, c=c, requester=requester, team=None,
                     min_confidence=settings.triage_min_confidence)
        out = await route(conn, s=s, ticket_id=t.id, fallback=settings.routing_fallback_team, lock=True)
        return await _store_and_assign(conn, t=t, out=out, c=c, trigger="manual" if actor else "auto",
                                       actor_id=actor.id if actor else None, system=system)


async def triage_new(conn: Conn, *, ticket_id: int, settings: Settings, embedder: Embedder) -> Decision | None:
    """On a new ticket: classify, set the category and raise urgency/impact when the text says so, route
    and assign. The caller holds a transaction. None when the ticket is closed or already taken."""
    system = await triage_principal(conn)
    t = await tickets.get_or_raise(conn, principal=system, ref=ticket_id)
    if t.status not in OPEN_STATUSES:
        return None
    requester = await _requester(conn, t.requester_id)
    c = await _classify_ticket(conn, t, requester, embedder)
    explicit, team_chosen = t.category is not None, t.team
    changes: dict[str, Any] = {}
    if t.category is None and c.category and c.confidence >= settings.triage_min_confidence:
        changes["category"] = c.category
    if c.urgency < t.urgency:
        changes["urgency"] = c.urgency
    if c.impact < t.impact:
        changes["impact"] = c.impact
    if changes:
        t = await tickets.update(conn, principal=system, ref=t.id, data=TicketUpdate(**changes))
    if t.assignee_id is not None:
        return None
    s = _subject(title=t.title, description=t.description, category=t.category, explicit=explicit, prio=t.priority,
                 source=t.source_type, c=c, requester=requester, team=team_chosen,
                 min_confidence=settings.triage_min_confidence)
    out = await route(conn, s=s, ticket_id=t.id, fallback=settings.routing_fallback_team, lock=True)
    return await _store_and_assign(conn, t=t, out=out, c=c, trigger="auto", actor_id=None, system=system)


async def list_decisions(conn: Conn, *, ticket_id: int) -> list[Decision]:
    """A ticket's routing decisions, newest first (no rights checked)."""
    rows = await (await conn.execute(Q.list_decisions, {"ticket_id": ticket_id})).fetchall()
    return [Decision(**{k: v for k, v in r.items() if k not in ("trigger", "actor_id")}) for r in rows]


async def list_decisions_for(conn: Conn, *, ref: str | int, principal: Principal) -> list[Decision]:
    """The routing decisions of a ticket (id or number) the principal may see; NotFound otherwise."""
    ticket = await tickets.get_or_raise(conn, principal=principal, ref=ref)
    return await list_decisions(conn, ticket_id=ticket.id)
