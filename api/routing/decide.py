"""Routing decisions: rules in order, then skills, workload and shifts within the team, round-robin on
ties, the team's queue or the fallback team when nobody can take it. Pure logic over loaded rows;
every step is recorded and summed up in a one-line reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any

from api.routing.models import Candidate, Conditions, Rule, Step
from api.sla.calendar import zone

SKILL_WEIGHT, WORKLOAD_WEIGHT = 0.6, 0.4
TIE = 1e-6


@dataclass(frozen=True)
class Subject:
    """What routing looks at: the ticket (or a dry-run payload) after classification."""

    text: str
    category: str | None
    category_confidence: float
    category_explicit: bool
    priority: int
    source_type: str
    intent: str | None
    intent_confidence: float
    department: str | None
    vip: bool
    team: str | None = None  # chosen by staff when the ticket was opened


@dataclass(frozen=True)
class Team:
    id: int
    slug: str
    name: str


@dataclass
class Outcome:
    team: Team | None
    agent: Candidate | None = None
    rule: Rule | None = None
    confidence: float = 0.0
    team_reason: str = ""
    agent_reason: str = ""
    candidates: list[Candidate] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)

    @property
    def reason(self) -> str:
        return "; ".join(part for part in (self.team_reason, self.agent_reason) if part)


def _keyword(text: str, word: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(word)}(?!\w)", text, re.I) is not None


def match(conditions: Conditions, s: Subject) -> list[str] | None:
    """The conditions that held, or None when one did not."""
    held: list[str] = []
    checks: list[tuple[bool, bool, str]] = [
        (bool(conditions.categories), s.category in conditions.categories, f"category {s.category}"),
        (bool(conditions.intents), s.intent in conditions.intents, f"intent {s.intent}"),
        (bool(conditions.sources), s.source_type in conditions.sources, f"source {s.source_type}"),
        (bool(conditions.priorities), s.priority in conditions.priorities, f"P{s.priority}"),
        (bool(conditions.departments),
         (s.department or "").lower() in {d.lower() for d in conditions.departments}, f"department {s.department}"),
        (conditions.vip is not None, conditions.vip == s.vip, "VIP requester" if s.vip else "not VIP"),
    ]
    for given, ok, label in checks:
        if given and not ok:
            return None
        if given:
            held.append(label)
    if conditions.keywords:
        found = [w for w in conditions.keywords if _keyword(s.text, w)]
        if not found:
            return None
        held.append("keyword " + ", ".join(repr(w) for w in found))
    return held


def rule_confidence(rule: Rule, s: Subject) -> float:
    """A rule on the category or intent is as sure as they are; one on anything else is certain."""
    confidence = 1.0
    if rule.conditions.categories and not s.category_explicit:
        confidence = min(confidence, s.category_confidence)
    if rule.conditions.intents:
        confidence = min(confidence, s.intent_confidence)
    return round(confidence, 3)


def on_shift(shifts: list[dict[str, Any]], now: datetime) -> bool:
    """Whether ``now`` falls in one of the weekly shifts; no shifts at all means always on shift."""
    if not shifts:
        return True
    for sh in shifts:
        tz = zone(sh["time_zone"])
        starts, ends = _time(sh["starts"]), _time(sh["ends"])
        today = now.astimezone(tz).date()
        for day in (today, today - timedelta(days=1)):  # yesterday's shift may run past midnight
            if day.weekday() != sh["weekday"]:
                continue
            start = datetime.combine(day, starts, tzinfo=tz).astimezone(UTC)
            end = datetime.combine(day + timedelta(days=1) if ends <= starts else day, ends, tzinfo=tz).astimezone(UTC)
            if start <= now < end:
                return True
    return False


def _time(value: Any) -> time:
    return value if isinstance(value, time) else time.fromisoformat(str(value))


def candidates(agents: list[dict[str, Any]], *, skill: str | None, now: datetime) -> list[Candidate]:
    """Scores agents: 60 % skill level (of 5), 40 % free share of capacity; off shift or full = not eligible."""
    out = []
    for a in agents:
        shift = on_shift(a["shifts"], now)
        capacity, load = int(a["capacity"]), float(a["load"])
        free = capacity > 0 and load < capacity
        level = int(a["skill_level"]) if skill else 0
        score = SKILL_WEIGHT * level / 5 + WORKLOAD_WEIGHT * (1 - load / capacity if capacity else 0)
        note = "" if shift and free else ("off shift" if not shift else "no free slot")
        out.append(Candidate(agent_id=a["id"], name=a["name"], skill=skill, skill_level=level, load=load,
                             capacity=capacity, on_shift=shift, eligible=shift and free,
                             score=round(score, 4), note=note))
    return out


def describe(c: Candidate) -> str:
    skill = f"skill {c.skill} {c.skill_level}" if c.skill else "no skill to match"
    return f"{c.name}: {skill}, {c.load:g} of {c.capacity} slots used"


def pick(pool: list[Candidate], last_agent_id: int | None) -> tuple[Candidate, list[Candidate]]:
    """The best eligible candidate; among equals the next after ``last_agent_id`` (round-robin)."""
    best = max(c.score for c in pool)
    tied = sorted((c for c in pool if best - c.score <= TIE), key=lambda c: c.agent_id)
    if len(tied) == 1 or last_agent_id is None:
        return tied[0], tied
    following = [c for c in tied if c.agent_id > last_agent_id]
    return (following or tied)[0], tied


def choose_agent(out: Outcome, pool: list[Candidate], last_agent_id: int | None) -> bool:
    """Records the skills/workload/tie steps and sets ``out.agent``; False when nobody is eligible."""
    eligible = [c for c in pool if c.eligible]
    skill = pool[0].skill if pool else None
    levels = ", ".join(f"{c.name} {c.skill_level}" for c in pool) or "nobody"
    out.steps.append(Step(step="skills", detail=f"skill {skill}: {levels}" if skill else "no skill to match"))
    loads = ", ".join(f"{c.name} {c.load:g}/{c.capacity}{' (' + c.note + ')' if c.note else ''}" for c in pool)
    out.steps.append(Step(step="workload", detail=loads or "the team has no active agents"))
    if not eligible:
        return False
    chosen, tied = pick(eligible, last_agent_id)
    out.agent = chosen
    out.agent_reason = describe(chosen)
    if len(tied) > 1:
        names = ", ".join(c.name for c in tied)
        out.steps.append(Step(step="tie", detail=f"{names} scored {chosen.score}; round-robin picked {chosen.name}"))
        out.agent_reason += f" (round-robin among {len(tied)})"
    return True
