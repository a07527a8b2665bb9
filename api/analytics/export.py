"""The metrics as CSV (``GET /api/v1/analytics/{metric}.csv``): one table per metric, a header row first.

Each metric's JSON ``data`` becomes one table (docs/analytics.md lists the columns). Numbers are written as
Python writes them (``null`` is an empty cell). Text that a spreadsheet would run as a formula — a cell
starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return — gets a leading apostrophe: questions and
intents come from employees, article titles from authors.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from typing import Any

from api.analytics.models import Metric, MetricResult

Table = tuple[list[str], list[list[Any]]]
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """``value`` with a leading apostrophe when it is text a spreadsheet would run as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def _per_bucket(buckets: list[Any], columns: dict[str, list[Any]]) -> Table:
    return ["bucket", *columns], [[b, *(values[i] for values in columns.values())] for i, b in enumerate(buckets)]


def _volume(d: dict[str, Any]) -> Table:
    return _per_bucket(d["buckets"], {"total": d["total"]}
                       | {f"source:{k}": v for k, v in d["by_source"].items()}
                       | {f"category:{k}": v for k, v in d["by_category"].items()})


def _backlog(d: dict[str, Any]) -> Table:
    return _per_bucket(d["buckets"], {"open": d["open"]})


def _durations(d: dict[str, Any]) -> Table:
    figures = ("tickets", "mean_hours", "median_hours")
    rows = [["all", "", *(d[f] for f in figures)]]
    for group in ("team", "category"):
        rows += [[group, r[group], *(r[f] for f in figures)] for r in d[f"by_{group}"]]
    return ["group", "name", *figures], rows


def _one_row(*figures: str) -> Callable[[dict[str, Any]], Table]:
    return lambda d: (list(figures), [[d[f] for f in figures]])


SLA_FIGURES = ("tickets", "respond_met", "resolve_met", "both_met", "compliance", "respond_compliance",
               "resolve_compliance", "breaches")


def _sla(d: dict[str, Any]) -> Table:
    """The period's figures in the row ``all``, then the breaches per bucket (the other figures are per period)."""
    series = d["breaches_series"]
    header = ["bucket", *SLA_FIGURES, "respond_breaches", "resolve_breaches"]
    rows = [["all", *(d[f] for f in SLA_FIGURES), sum(series["respond"]), sum(series["resolve"])]]
    rows += [[b, *([""] * (len(SLA_FIGURES) - 1)), r + s, r, s]
             for b, r, s in zip(series["buckets"], series["respond"], series["resolve"], strict=True)]
    return header, rows


OUTCOMES = ("conversations", "bot_resolved", "escalated", "open", "containment")


def _deflection(d: dict[str, Any]) -> Table:
    """The period's figures in the row ``all`` (with the deflection rate), then each first intent."""
    rows = [["all", *(d[f] for f in OUTCOMES), d["deflection_rate"]]]
    rows += [[i["intent"], *(i[f] for f in OUTCOMES), ""] for i in d["by_intent"]]
    return ["intent", *OUTCOMES, "deflection_rate"], rows


def _bot_failures(d: dict[str, Any]) -> Table:
    header = ["kind", "text", "turns", "failed", "answers", "not_helpful", "not_confident"]
    rows = [["intent", r["intent"], r["turns"], r["failed"], "", "", ""] for r in d["intents"]]
    rows += [["question", r["question"], r["turns"], "", "", "", ""] for r in d["questions"]]
    rows += [["unhelpful_answer", r["question"], "", "", r["answers"], r["not_helpful"], r["not_confident"]]
             for r in d["unhelpful_answers"]]
    return header, rows


def _kb(d: dict[str, Any]) -> Table:
    figures = ["id", "title", "views", "helpful", "not_helpful"]
    return figures, [[a[f] for f in figures] for a in d["articles"]]


def _csat(d: dict[str, Any]) -> Table:
    figures = ("asked", "answered", "average", "response_rate")
    header = ["resolved_by", *figures, *(f"score_{n}" for n in range(1, 6))]
    return header, [[who, *(d[who][f] for f in figures), *(d[who]["scores"][str(n)] for n in range(1, 6))]
                    for who in ("bot", "person")]


TABLES: dict[Metric, Callable[[dict[str, Any]], Table]] = {
    Metric.volume: _volume, Metric.backlog: _backlog, Metric.mtta: _durations, Metric.mttr: _durations,
    Metric.fcr: _one_row("resolved", "first_contact", "rate"),
    Metric.reopen_rate: _one_row("resolved", "reopened", "rate"), Metric.sla: _sla,
    Metric.deflection: _deflection, Metric.bot_failures: _bot_failures, Metric.kb: _kb, Metric.csat: _csat,
}


def _text(rows: Iterable[list[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerows([[safe_cell(c) for c in row] for row in rows])
    return out.getvalue()


def to_csv(result: MetricResult) -> str:
    """The metric's table as CSV text: the header row, then the rows."""
    header, rows = TABLES[result.metric](result.data)
    return _text([header, *rows])


def filename(result: MetricResult) -> str:
    """``deskmate-<metric>-<from>-<to>[-team-<slug>][-category-<slug>].csv`` (slugs are [a-z0-9-])."""
    name = f"deskmate-{result.metric.value}-{result.start}-{result.end}"
    name += f"-team-{result.team}" if result.team else ""
    name += f"-category-{result.category}" if result.category else ""
    return name + ".csv"
