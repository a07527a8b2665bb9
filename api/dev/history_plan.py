"""The plan of the demo history (api/dev/history.py): when each ticket was opened and what happened to it, and the
conversations around them, drawn from one seeded random generator (the same seed draws the same history).

Times are epoch seconds until they are written. Business time follows the team's SLA calendar (api/sla/calendar),
so the analytics' business-hour durations and the SLA breaches agree with the due times.
"""

from __future__ import annotations

import math
import random
import uuid
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from api.dev.history_text import FOLLOW_UPS, ISSUES, VAGUE, WORKFLOWS, Issue
from api.sla.calendar import Calendar
from api.types import priority

SOURCES = {"CHATBOT": 22, "WEB": 18, "EMAIL": 24, "MOBILE": 8, "SLACK": 12, "TEAMS": 16}
CHANNELS = {"CHATBOT": ("web", "browser"), "MOBILE": ("web", "mobile"), "SLACK": ("slack", "browser"),
            "TEAMS": ("teams", "browser")}
CATEGORIES = {"accounts": 18, "access": 12, "security": 4, "network": 12, "email": 11, "software": 14, "hardware": 12,
              "printing": 6, "onboarding": 5, "general": 6}
WEEKDAYS = (1.25, 1.1, 1.0, 0.95, 0.75, 0.08, 0.05)  # Monday first
HOURS = (0, 0, 0, 0, 0, 0, 1, 3, 9, 12, 11, 9, 6, 8, 10, 9, 7, 5, 2, 1, 1, 0.5, 0, 0)  # office time, per local hour
OFFICE = ZoneInfo("Europe/Berlin")
BOT_SHARE = 0.08  # tickets a workflow run opened and solved (the bot's resolutions)
KB_SOLVED, LEFT_OPEN = 0.35, 0.25  # conversations per escalated one: solved by an answer, or left without a result
SCORES = {"person": (4, 6, 12, 33, 45), "bot": (6, 6, 14, 34, 40), "reopened": (20, 25, 25, 20, 10)}
STAGES = ("assigned_at", "started_at", "pending_at", "resumed_at", "first_resolved_at", "reopened_at", "resolved_at",
          "closed_at")
STATUS_AFTER = {None: "new", "assigned_at": "assigned", "started_at": "in_progress", "pending_at": "pending",
                "resumed_at": "in_progress", "first_resolved_at": "resolved", "reopened_at": "in_progress",
                "resolved_at": "resolved", "closed_at": "closed"}
DAY = 86400.0


class Timeline:
    """A calendar's business intervals over a span, as epoch seconds: adds and measures business time by bisection."""

    def __init__(self, cal: Calendar, start: datetime, end: datetime) -> None:
        self.starts: list[float] = []
        self.before: list[float] = []  # business seconds before each interval
        self.after: list[float] = []   # ... and at its end
        total = 0.0
        for a, b in cal.intervals_from(start):
            if a >= end:
                break
            self.starts.append(a.timestamp())
            self.before.append(total)
            total += (b - a).total_seconds()
            self.after.append(total)

    def _cum(self, at: float) -> float:
        i = bisect_right(self.starts, at) - 1
        return 0.0 if i < 0 else min(self.after[i], self.before[i] + at - self.starts[i])

    def add(self, at: float, seconds: float) -> float:
        """The instant ``seconds`` of business time after ``at``."""
        target = self._cum(at) + seconds
        j = min(bisect_left(self.after, target), len(self.starts) - 1)
        return max(at, self.starts[j] + target - self.before[j])

    def between(self, a: float, b: float) -> float:
        return max(0.0, self._cum(b) - self._cum(a))


@dataclass
class Org:
    """What the plan draws from: the demo organisation's people, categories, SLA and calendars, articles, workflows."""

    employees: list[int]
    emails: dict[int, str]
    agents: dict[int, list[int]]  # team id -> agents
    categories: dict[str, tuple[int, int]]  # slug -> (id, default team id)
    policies: dict[tuple[int, int | None], dict[str, Any]]  # (priority, team id or None) -> policy
    calendars: dict[int, tuple[int | None, Timeline]]  # team id -> (calendar id, its business time)
    articles: dict[str | None, list[str]]  # category (None: any) -> article ids
    workflows: dict[str, int]  # name -> definition id
    bot_id: int

    def policy(self, prio: int, team_id: int) -> dict[str, Any] | None:
        return self.policies.get((prio, team_id)) or self.policies.get((prio, None))


@dataclass
class Chunk:
    """The planned rows of one load: tickets and conversations, as dicts keyed by the staging tables' columns."""

    tickets: list[dict[str, Any]] = field(default_factory=list)
    conversations: list[dict[str, Any]] = field(default_factory=list)


def opening_times(rng: random.Random, *, start: datetime, end: datetime, n: int) -> list[float]:
    """``n`` instants in [start, end), sorted: weekdays busier than weekends, office hours busier than nights."""
    first = start.astimezone(OFFICE).date()
    days = [first + timedelta(days=d) for d in range((end.astimezone(OFFICE).date() - first).days + 1)]
    midnights = [datetime.combine(d, datetime.min.time(), OFFICE).timestamp() for d in days]
    picked = rng.choices(range(len(days)), [WEEKDAYS[d.weekday()] for d in days], k=n)
    hours = rng.choices(range(24), HOURS, k=n)
    lo, hi = start.timestamp(), end.timestamp()
    times = [midnights[d] + (h + rng.random()) * 3600 for d, h in zip(picked, hours, strict=True)]
    return sorted(t if lo <= t < hi else lo + rng.random() * (hi - lo) for t in times)


class Planner:
    """Draws tickets and conversations; ``now`` cuts off what has not happened yet."""

    def __init__(self, rng: random.Random, org: Org, now: float) -> None:
        self.rng, self.org, self.now = rng, org, now
        self.teams = sorted({team for _, team in org.categories.values()})

    def kinds(self, n: int) -> list[str]:
        """Per ticket: 'BOT' (a workflow run's) or the source it came in through."""
        bot = BOT_SHARE if self.org.workflows else 0.0
        weights = [bot * sum(SOURCES.values()) / (1 - bot), *SOURCES.values()]
        return self.rng.choices(["BOT", *SOURCES], weights, k=n)

    @staticmethod
    def conversations_for(kinds: list[str]) -> int:
        """How many conversations ``chunk`` draws for tickets of these kinds."""
        escalated = sum(k in CHANNELS for k in kinds)
        return escalated + kinds.count("BOT") + round(escalated * KB_SOLVED) + round(escalated * LEFT_OPEN)

    def issue(self, category: str | None = None) -> tuple[str, Issue]:
        category = category or self.rng.choices(list(CATEGORIES), list(CATEGORIES.values()))[0]
        return category, self.rng.choice(ISSUES[category])

    def conversation_id(self) -> uuid.UUID:
        return uuid.UUID(int=self.rng.getrandbits(128), version=4)

    def chunk(self, ids: list[int], times: list[float], kinds: list[str], first_answer: int, first_run: int) -> Chunk:
        """Tickets ``ids`` opened at ``times`` and their conversations; kb answers and workflow runs are numbered from
        ``first_answer`` and ``first_run``."""
        out, answers, runs = Chunk(), iter(range(first_answer, 1 << 62)), iter(range(first_run, 1 << 62))
        for tid, at, kind in zip(ids, times, kinds, strict=True):
            employee = self.rng.choice(self.org.employees)
            conv: dict[str, Any] | None
            if kind == "BOT":
                conv = self._workflow_conversation(at - 80, employee, next(runs))
                out.tickets.append(self._bot_ticket(tid, at, conv))
            else:
                category, issue = self.issue()
                conv = self._escalated_conversation(at, employee, kind, issue, answers) if kind in CHANNELS else None
                out.tickets.append(self._ticket(tid, at, kind, category, issue, employee, conv))
            if conv is not None:
                conv["ticket_id"], conv["ticket_number"] = tid, out.tickets[-1]["number"]
                out.conversations.append(conv)
        escalated = sum(1 for c in out.conversations if c["outcome"] == "ticket")
        for outcome, share in (("kb", KB_SOLVED), ("open", LEFT_OPEN)):
            for _ in range(round(escalated * share)):
                at = min(self.rng.choice(times) + self.rng.uniform(-7200, 7200), self.now - 600)
                out.conversations.append(self._bot_conversation(at, outcome, answers))
        return out

    def _conversation(self, at: float, employee: int, source: str, outcome: str, intent: str, confidence: float,
                      opening: str) -> dict[str, Any]:
        channel, client = CHANNELS[source]
        return {"id": self.conversation_id(), "employee_id": employee, "channel": channel, "client": client,
                "created_at": at, "messages": 2, "outcome": outcome, "intent": intent, "confidence": confidence,
                "opening": opening, "ticket_id": None, "ticket_number": None, "answer_id": None,
                "answer_confident": None, "answer_helpful": None, "article_id": None, "workflow": None,
                "workflow_run_id": None, "definition_id": None}

    def _answer(self, conv: dict[str, Any], answer_id: int, category: str | None, *, confident: bool,
                helpful: bool | None) -> None:
        cited = self.org.articles.get(category) or self.org.articles.get(None) or []
        conv.update(answer_id=answer_id, answer_confident=confident, answer_helpful=helpful,
                    article_id=self.rng.choice(cited) if cited and confident else None)

    def _escalated_conversation(self, ticket_at: float, employee: int, source: str, issue: Issue,
                                answers: Any) -> dict[str, Any]:
        conv = self._conversation(ticket_at - self.rng.uniform(90, 400), employee, source, "ticket", issue[0],
                                  round(self.rng.uniform(0.55, 0.98), 3), issue[3])
        if self.rng.random() < 0.15:  # the bot offered an article first; it did not help
            self._answer(conv, next(answers), None, confident=self.rng.random() < 0.5, helpful=False)
        return conv

    def _workflow_conversation(self, at: float, employee: int, run_id: int) -> dict[str, Any]:
        name = self.rng.choice(sorted(self.org.workflows))
        issue = next(i for i in ISSUES["accounts"] if i[0] == name)
        conv = self._conversation(at, employee, self.rng.choice(list(CHANNELS)), "workflow", name,
                                  round(self.rng.uniform(0.7, 0.99), 3), issue[3])
        conv.update(workflow=name, workflow_run_id=run_id, definition_id=self.org.workflows[name])
        return conv

    def _bot_conversation(self, at: float, outcome: str, answers: Any) -> dict[str, Any]:
        """A conversation that opened no ticket: solved by an article, or left without a result."""
        category, issue = self.issue()
        source = self.rng.choices(list(CHANNELS), [SOURCES[s] for s in CHANNELS])[0]
        employee = self.rng.choice(self.org.employees)
        roll = self.rng.random()
        if outcome == "open" and roll < 0.4:
            return self._conversation(at, employee, source, outcome, "nlu_fallback",
                                      round(self.rng.uniform(0.1, 0.29), 3), self.rng.choice(VAGUE))
        low = outcome == "open" and roll < 0.7  # understood badly: an intent, but below the fallback threshold
        conv = self._conversation(at, employee, source, outcome, issue[0],
                                  round(self.rng.uniform(0.12, 0.29) if low else self.rng.uniform(0.6, 0.97), 3),
                                  issue[3])
        if outcome == "kb":
            self._answer(conv, next(answers), category, confident=True, helpful=True)
        elif not low:
            confident = self.rng.random() < 0.4
            self._answer(conv, next(answers), category, confident=confident, helpful=False if confident else None)
        return conv

    def _clock(self, row: dict[str, Any], team_id: int) -> None:
        """The SLA clock of the ticket: its policy, due and warning times, and what was raised by now."""
        policy = self.org.policy(row["priority"], team_id)
        if policy is None:
            row["policy_id"] = None
            return
        cal_id, tl = self.org.calendars[team_id]
        c, paused, warn = row["created_at"], row["paused_business_s"], policy["warn_ratio"]
        respond_s, resolve_s = policy["respond_minutes"] * 60, policy["resolve_minutes"] * 60
        row.update(policy_id=policy["id"], calendar_id=cal_id, respond_target_s=respond_s, resolve_target_s=resolve_s,
                   warn_ratio=warn, respond_due_at=tl.add(c, respond_s), respond_warn_at=tl.add(c, respond_s * warn),
                   resolve_due_at=tl.add(c, resolve_s + paused), resolve_warn_at=tl.add(c, resolve_s * warn + paused))
        stopped = row["resolved_at"] or (row["pending_at"] if row["status"] == "pending" else None)
        for target, done in (("respond", row["assigned_at"] or stopped), ("resolve", stopped)):
            until = done or self.now
            row[f"{target}_warned_at"] = row[f"{target}_warn_at"] if row[f"{target}_warn_at"] < until else None
            row[f"{target}_breached_at"] = row[f"{target}_due_at"] if row[f"{target}_due_at"] < until else None

    def _lifecycle(self, c: float, tl: Timeline, respond_s: float, resolve_s: float) -> dict[str, Any]:
        """When it was assigned, started, paused, resolved, reopened and closed (some never), and the paused time."""
        rng = self.rng
        # relative to the targets (the urgent ones breach now and then), but nobody waits days for a low priority
        r = min(respond_s * rng.lognormvariate(math.log(0.35), 0.7), rng.lognormvariate(math.log(5400), 0.8))
        res = max(min(resolve_s * rng.lognormvariate(math.log(0.4), 0.6), rng.lognormvariate(math.log(8 * 3600), 0.8)),
                  r + 900)
        if rng.random() < 0.06:  # forgotten in a queue for a while
            r = respond_s * rng.uniform(1.05, 2.5)
        if rng.random() < 0.07:  # harder than it looked
            res = max(res, resolve_s * rng.uniform(1.02, 1.6), r + 900)
        t: dict[str, Any] = dict.fromkeys(STAGES) | {"paused_business_s": 0.0}
        t["assigned_at"] = tl.add(c, r)
        t["started_at"] = t["assigned_at"] + rng.uniform(60, 900)
        if rng.random() < 0.12:  # waiting on the employee for a while
            t["pending_at"] = max(tl.add(c, r + (res - r) * 0.4), t["started_at"] + 300)
            t["resumed_at"] = t["pending_at"] + rng.uniform(2, 30) * 3600
            t["paused_business_s"] = tl.between(t["pending_at"], t["resumed_at"])
        t["first_resolved_at"] = max(tl.add(c, res + t["paused_business_s"]), (t["resumed_at"] or t["started_at"]) + 300)
        t["resolved_at"] = t["first_resolved_at"]
        if rng.random() < 0.07:  # it came back
            t["reopened_at"] = t["first_resolved_at"] + rng.uniform(2, 60) * 3600
            t["paused_business_s"] += tl.between(t["first_resolved_at"], t["reopened_at"])
            t["resolved_at"] = tl.add(t["reopened_at"], rng.uniform(0.5, 6) * 3600)
        t["closed_at"] = t["resolved_at"] + 3 * DAY  # closed automatically three days after the resolution
        return t

    def _cut(self, row: dict[str, Any]) -> None:
        """Forgets what has not happened by now; the status is the last stage reached."""
        reached = None
        for stage in STAGES:
            if row[stage] is None:
                continue
            if row[stage] > self.now:
                for later in STAGES[STAGES.index(stage):]:
                    row[later] = None
                break
            reached = stage
        if row["reopened_at"] is None:
            row["resolved_at"] = row["first_resolved_at"]
        if row.get("moved_at") and (row["assigned_at"] is None or row["moved_at"] > self.now):
            row["moved_at"] = None
        row["status"] = STATUS_AFTER[reached]

    def _survey(self, row: dict[str, Any], by: str, channel: str) -> None:
        rng, asked = self.rng, None
        if row["first_resolved_at"] is not None and row["first_resolved_at"] + 60 <= self.now:
            asked = row["first_resolved_at"] + 60
        answered = asked + rng.uniform(300, 20 * 3600) if asked and rng.random() < 0.38 else None
        if answered is not None and answered > self.now:
            answered = None
        weights = SCORES["reopened" if row["reopened_at"] else by]
        row.update(csat_by=by, csat_channel=channel, csat_asked_at=asked, csat_answered_at=answered,
                   csat_score=rng.choices(range(1, 6), weights)[0] if answered else None)

    def _ticket(self, tid: int, at: float, source: str, category: str, issue: Issue, employee: int,
                conv: dict[str, Any] | None) -> dict[str, Any]:
        rng = self.rng
        cat_id, team = self.org.categories[category]
        first_team = team
        if rng.random() < 0.06 and len(self.teams) > 1:  # filed with the wrong team first
            first_team = rng.choice([t for t in self.teams if t != team])
        urgency, impact = rng.choices((1, 2, 3), (1, 4, 5))[0], rng.choices((1, 2, 3), (1, 3, 6))[0]
        prio = priority(urgency, impact)
        policy = self.org.policy(prio, team) or {"respond_minutes": 480, "resolve_minutes": 4800}
        tl = self.org.calendars[team][1]
        row = _base(tid, issue, category=cat_id, team=team, source=source, employee=employee, at=at)
        row.update(self._lifecycle(at, tl, policy["respond_minutes"] * 60, policy["resolve_minutes"] * 60))
        assignee = rng.choice(self.org.agents.get(team) or [self.org.bot_id])
        row.update(first_team_id=first_team, urgency=urgency, impact=impact, priority=prio, creator_id=employee,
                   resolution="agent", conversation_id=conv["id"] if conv else None,
                   source_reference=str(conv["id"]) if conv else None,
                   moved_at=(at + row["assigned_at"]) / 2 if first_team != team else None)
        self._cut(row)
        reached = row["assigned_at"] is not None
        row.update(assignee_id=assignee if reached else None, resolver_id=assignee if reached else None)
        if row["status"] not in ("resolved", "closed"):
            row["resolution"] = None
        self._clock(row, team)
        self._survey(row, "person", conv["channel"] if conv else "email")
        return row

    def _bot_ticket(self, tid: int, at: float, conv: dict[str, Any]) -> dict[str, Any]:
        name, email = conv["workflow"], self.org.emails[conv["employee_id"]]
        cat_id, team = self.org.categories["accounts"]
        issue = (name, "request", WORKFLOWS[name].format(user=email.split("@")[0]), conv["opening"])
        row = _base(tid, issue, category=cat_id, team=team, source="CHATBOT", employee=conv["employee_id"], at=at)
        resolved = at + self.rng.uniform(60, 240)
        row.update(dict.fromkeys(STAGES), first_resolved_at=resolved, resolved_at=resolved, closed_at=resolved + 3 * DAY,
                   paused_business_s=0.0, first_team_id=team, urgency=2, impact=3, priority=priority(2, 3),
                   creator_id=self.org.bot_id, resolver_id=self.org.bot_id, assignee_id=None, resolution="auto",
                   workflow=name, workflow_run_id=conv["workflow_run_id"], conversation_id=None,
                   source_reference=f"workflow-run-{conv['workflow_run_id']}", moved_at=None)
        self._cut(row)
        if row["status"] not in ("resolved", "closed"):
            row["resolution"] = None
        self._clock(row, team)
        self._survey(row, "bot", conv["channel"])
        return row


def _base(tid: int, issue: Issue, *, category: int, team: int, source: str, employee: int, at: float) -> dict[str, Any]:
    _, kind, title, text = issue
    return {"id": tid, "number": ("REQ-" if kind == "request" else "INC-") + f"{tid:06d}", "type": kind,
            "title": title, "description": text[0].upper() + text[1:] + ".", "category_id": category, "team_id": team,
            "source_type": source, "requester_id": employee, "created_at": at, "workflow": None,
            "workflow_run_id": None}


def message_counts(rng: random.Random, conversations: int, messages: int) -> list[int]:
    """How many messages each conversation has: ``messages`` in all (at least two each), lengths varying a little."""
    q, r = divmod(messages, conversations) if conversations else (0, 0)
    counts = [max(2, q + (i < r)) for i in range(conversations)]
    for i in range(0, conversations - 1, 2):
        d = rng.choice((-2, -1, 0, 1, 2)) if min(counts[i], counts[i + 1]) > 4 else 0
        counts[i], counts[i + 1] = counts[i] + d, counts[i + 1] - d
    rng.shuffle(counts)
    return counts


def timestamp(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


FOLLOW_UP_TEXTS = [text for text, _ in FOLLOW_UPS]
FOLLOW_UP_INTENTS = [intent for _, intent in FOLLOW_UPS]
