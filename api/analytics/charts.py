"""The analytics page's charts: what each one draws, for Chart.js in the browser and for the table beside it.

The server decides the numbers; the page carries them as JSON (``Chart.spec``) and ``analytics.js`` hands them
to Chart.js (vendored: api/web/static/vendor/chart.js, pinned in package.json). Every chart has its numbers in a
table next to it, so the page says the same without script, to a screen reader, and in the CSV download.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["line", "bar", "hbar", "doughnut"]
CHART_JS = "vendor/chart.js/chart.umd.min.js"  # under api/web/static; its version is package.json's
CHART_JS_VERSION = "4.6.2"


@dataclass(frozen=True)
class Series:
    label: str
    values: list[float]


@dataclass(frozen=True)
class Chart:
    """One chart: its labels (buckets, or the parts of a breakdown) and one or more series over them."""

    id: str
    title: str
    kind: Kind
    labels: list[str]
    series: list[Series]
    stacked: bool = False
    axis: str = ""  # what the labels are ("Day", "Source"…): the table's first column

    @property
    def points(self) -> int:
        return len(self.labels)

    @property
    def total(self) -> float:
        return sum(sum(s.values) for s in self.series)

    @property
    def empty(self) -> bool:
        return not self.labels or not any(v for s in self.series for v in s.values)

    def rows(self) -> list[tuple[str, list[float]]]:
        """The table: one row per label, one value per series."""
        return [(label, [s.values[i] for s in self.series]) for i, label in enumerate(self.labels)]

    def shares(self) -> list[str]:
        """Each label's share of a one-series breakdown ("–" when there is nothing)."""
        total = self.total
        return [f"{v / total:.0%}" if total else "–" for v in self.series[0].values]

    def describe(self) -> str:
        """One sentence for the chart's accessible name: what it shows and the largest part or value."""
        if self.empty:
            return f"{self.title}: nothing in this period."
        top_label, top_value = max(((label, sum(v)) for label, v in self.rows()), key=lambda lv: lv[1])
        return f"{self.title}: {_number(self.total)} in all over {self.points} {_plural(self.axis or 'item')}; " \
               f"most: {top_label} ({_number(top_value)})."

    def spec(self) -> dict[str, Any]:
        return {"kind": self.kind, "title": self.title, "labels": self.labels, "stacked": self.stacked,
                "series": [{"label": s.label, "values": s.values} for s in self.series]}


def _plural(noun: str) -> str:
    noun = noun.lower()
    return noun[:-1] + "ies" if noun.endswith("y") and noun[-2:-1] not in "aeiou" else noun + "s"


def _number(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def timeline(id: str, title: str, buckets: list[Any], series: dict[str, list[int]], *, axis: str,
             kind: Kind = "line", stacked: bool = False) -> Chart:
    """A time series per bucket: one line (or stacked bar) per entry of ``series``."""
    return Chart(id, title, kind, [str(b) for b in buckets], [Series(k, list(v)) for k, v in series.items()],
                 stacked=stacked, axis=axis)


def breakdown(id: str, title: str, parts: dict[str, float], *, axis: str, kind: Kind = "doughnut") -> Chart:
    """A whole split into its parts (one series), largest first for bars, in the given order for doughnuts."""
    items = sorted(parts.items(), key=lambda kv: -kv[1]) if kind == "hbar" else list(parts.items())
    return Chart(id, title, kind, [k for k, _ in items], [Series(title, [v for _, v in items])], axis=axis)


def grouped(id: str, title: str, labels: list[str], series: dict[str, list[float]], *, axis: str,
            kind: Kind = "bar", stacked: bool = False) -> Chart:
    """Several series over the same parts (scores 1–5 for the bot and for people; outcomes per intent)."""
    return Chart(id, title, kind, labels, [Series(k, v) for k, v in series.items()], stacked=stacked, axis=axis)
