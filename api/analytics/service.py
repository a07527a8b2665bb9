"""The analytics metrics (docs/analytics.md defines each one; the SQL is in queries.sql)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from datetime import date, timedelta
from itertools import accumulate
from statistics import mean, median
from typing import Any

from api import sql
from api.analytics import rollups
from api.analytics.models import Granularity, Metric, MetricResult, Period
from api.analytics.rollups import fetch
from api.db import Conn
from api.sla.calendar import business_seconds_between

Q = sql.load("api.analytics")
FALLBACK_CONFIDENCE = 0.3  # bot/config.yml: the FallbackClassifier's threshold
TOP = 20
KB_LINKS = {"trends": "/api/v1/kb/trends", "suggestions": "/api/v1/kb/trends/suggestions"}


def buckets(period: Period) -> list[date]:
    """The bucket starts of the period: UTC days, or ISO weeks (Mondays) that overlap it."""
    assert period.start is not None and period.end is not None
    step = 7 if period.granularity is Granularity.week else 1
    first = period.start - timedelta(days=period.start.weekday()) if step == 7 else period.start
    return [first + timedelta(days=d) for d in range(0, (period.end - first).days + 1, step)]


def _series(rows: Iterable[dict[str, Any]], key: str, value: str, days: list[date]) -> dict[str, list[int]]:
    """{key value: [count per bucket]} from rows of (bucket, key, value)."""
    index = {d: i for i, d in enumerate(days)}
    out: dict[str, list[int]] = defaultdict(lambda: [0] * len(days))
    for r in rows:
        out[r[key]][index[r["bucket"]]] += r[value]
    return dict(sorted(out.items()))


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


async def volume(conn: Conn, period: Period) -> dict[str, Any]:
    rows = await fetch(conn, Q.volume, period.params())
    days = buckets(period)
    by_source, by_category = _series(rows, "source", "tickets", days), _series(rows, "category", "tickets", days)
    return {"buckets": days, "total": [sum(c) for c in zip(*by_source.values(), strict=True)] or [0] * len(days),
            "by_source": by_source, "by_category": by_category, "tickets": sum(r["tickets"] for r in rows)}


async def backlog(conn: Conn, period: Period, *, rolled: bool = True) -> dict[str, Any]:
    """Open tickets at the end of each bucket: from the rollups when built (``rolled``), else all live."""
    st = await rollups.state(conn) if rolled else None
    if st is None:
        rows = await fetch(conn, Q.backlog, period.params())
        return {"buckets": [r["bucket"] for r in rows], "open": [r["open_tickets"] for r in rows]}
    days, deltas = buckets(period), await rollups.backlog_deltas(conn, period, st)
    return {"buckets": days, "open": list(accumulate(deltas.get(d, 0) for d in days))}


def _hours(values: list[float]) -> dict[str, Any]:
    return {"tickets": len(values), "mean_hours": round(mean(values) / 3600, 2) if values else None,
            "median_hours": round(median(values) / 3600, 2) if values else None}


def _durations(samples: list[tuple[dict[str, Any], float]]) -> dict[str, Any]:
    """Overall, per team and per category: ticket count, mean and median in business hours."""
    out = _hours([s for _, s in samples])
    for key in ("team", "category"):
        groups: dict[str, list[float]] = defaultdict(list)
        for row, seconds in samples:
            groups[row[key]].append(seconds)
        out[f"by_{key}"] = [{key: k} | _hours(v) for k, v in sorted(groups.items())]
    return out


async def _business_durations(conn: Conn, period: Period, *, respond: bool, rolled: bool) -> dict[str, Any]:
    """Business seconds from creation to the first response (``respond``: MTTA's tickets, created in the period) or
    to the resolution (MTTR's, resolved in it) per ticket, in its team's calendar (the SLA's calendars): the
    rollups' for a ticket rolled up, unchanged since and counted in the calendar as it is now (``rolled``), else
    computed here."""
    st = await rollups.state(conn) if rolled else None
    calendars = rollups.Calendars(conn)
    if st is not None:
        rows = await rollups.durations(conn, period, st, calendars, respond=respond)
    else:
        end = "responded_at" if respond else "resolved_at"
        rows = [r | {"rolled": None, "ended_at": r[end]} for r in await fetch(conn, Q.response_times, period.params())
                if (period.since <= r["created_at"] < period.until if respond else r["resolved_at"] is not None)]
    samples = []
    for row in rows:
        if row["rolled"] is not None:
            if row["seconds"] is not None:
                samples.append((row, row["seconds"]))
        elif row["ended_at"] is not None:
            cal, _ = await calendars.get(row["team_id"])
            samples.append((row, business_seconds_between(cal, row["created_at"], row["ended_at"])))
    return _durations(samples)


async def mtta(conn: Conn, period: Period, *, rolled: bool = True) -> dict[str, Any]:
    return await _business_durations(conn, period, respond=True, rolled=rolled)


async def mttr(conn: Conn, period: Period, *, rolled: bool = True) -> dict[str, Any]:
    return await _business_durations(conn, period, respond=False, rolled=rolled)


async def fcr(conn: Conn, period: Period, *, rolled: bool = True) -> dict[str, Any]:
    st = await rollups.state(conn) if rolled else None
    row = await rollups.fcr(conn, period, st) if st else (await fetch(conn, Q.fcr, period.params()))[0]
    return row | {"rate": _rate(row["first_contact"], row["resolved"])}


async def reopen_rate(conn: Conn, period: Period) -> dict[str, Any]:
    row = (await fetch(conn, Q.reopen_rate, period.params()))[0]
    return row | {"rate": _rate(row["reopened"], row["resolved"])}


async def sla(conn: Conn, period: Period) -> dict[str, Any]:
    row = (await fetch(conn, Q.sla_compliance, period.params()))[0]
    breaches = await fetch(conn, Q.sla_breaches, period.params())
    days = buckets(period)
    series = _series(breaches, "target", "breaches", days)
    return row | {"compliance": _rate(row["both_met"], row["tickets"]),
                  "respond_compliance": _rate(row["respond_met"], row["tickets"]),
                  "resolve_compliance": _rate(row["resolve_met"], row["tickets"]),
                  "breaches": sum(r["breaches"] for r in breaches),
                  "breaches_series": {"buckets": days, "respond": series.get("respond", [0] * len(days)),
                                      "resolve": series.get("resolve", [0] * len(days))}}


OUTCOMES = ("bot_resolved", "escalated", "open")


async def deflection(conn: Conn, period: Period) -> dict[str, Any]:
    rows = await fetch(conn, Q.deflection, period.params())
    intents: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(OUTCOMES, 0))
    for r in rows:
        intents[r["intent"]][r["outcome"]] += r["conversations"]
    totals = {o: sum(i[o] for i in intents.values()) for o in OUTCOMES}
    by_intent = [{"intent": k, "conversations": sum(v.values()), **v,
                  "containment": _rate(sum(v.values()) - v["escalated"], sum(v.values()))}
                 for k, v in sorted(intents.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))]
    return {"conversations": sum(totals.values()), **totals,
            "deflection_rate": _rate(totals["bot_resolved"], totals["bot_resolved"] + totals["escalated"]),
            "containment": _rate(totals["bot_resolved"] + totals["open"], sum(totals.values())),
            "by_intent": by_intent, "csat": await csat(conn, period)}


async def bot_failures(conn: Conn, period: Period) -> dict[str, Any]:
    params = period.params() | {"threshold": FALLBACK_CONFIDENCE, "limit": TOP}
    return {"threshold": FALLBACK_CONFIDENCE,
            "intents": await fetch(conn, Q.failing_intents, params),
            "questions": await fetch(conn, Q.failing_questions, params),
            "unhelpful_answers": await fetch(conn, Q.unhelpful_answers, params), "links": KB_LINKS}


async def kb(conn: Conn, period: Period) -> dict[str, Any]:
    return {"articles": await fetch(conn, Q.kb_articles, period.params() | {"limit": TOP}), "links": KB_LINKS}


async def csat(conn: Conn, period: Period) -> dict[str, Any]:
    """Satisfaction (api/csat) for tickets the bot resolved vs a person: asked and answered in the period, the
    average score and the distribution of 1–5 (the answered count and the average follow from it)."""
    rows = await fetch(conn, Q.csat, period.params())
    split: dict[str, Any] = {}
    for who in ("bot", "person"):
        mine = [r for r in rows if r["resolved_by"] == who]
        scores = {str(n): sum(r["answered"] for r in mine if r["score"] == n) for n in range(1, 6)}
        answered = sum(scores.values())
        split[who] = {"asked": sum(r["asked"] for r in mine), "answered": answered,
                      "average": round(sum(int(n) * k for n, k in scores.items()) / answered, 2) if answered else None,
                      "response_rate": _rate(answered, sum(r["asked"] for r in mine)), "scores": scores}
    return split


COMPUTE: dict[Metric, Callable[[Conn, Period], Awaitable[dict[str, Any]]]] = {
    Metric.deflection: deflection, Metric.volume: volume, Metric.backlog: backlog, Metric.mtta: mtta,
    Metric.mttr: mttr, Metric.fcr: fcr, Metric.reopen_rate: reopen_rate, Metric.sla: sla,
    Metric.bot_failures: bot_failures, Metric.kb: kb, Metric.csat: csat,
}


async def get(conn: Conn, *, metric: Metric, period: Period) -> MetricResult:
    """One metric over the period, for the team and category when given."""
    assert period.start is not None and period.end is not None
    return MetricResult(metric=metric, start=period.start, end=period.end, team=period.team,
                        category=period.category, granularity=period.granularity,
                        data=await COMPUTE[metric](conn, period))
