"""Chart geometry for the analytics page: SVG drawn on the server, so the page needs no script at all."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

WIDTH, HEIGHT, PAD = 640, 200, 28


@dataclass(frozen=True)
class Line:
    """A time series as an SVG polyline, with its labels and values for the table next to it."""

    title: str
    labels: list[str]
    values: list[int]
    points: str  # "x,y x,y …": one pair per bucket
    top: int

    @property
    def count(self) -> int:
        return len(self.values)


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    x: float
    width: float
    share: str


def line(title: str, labels: list[Any], values: list[int]) -> Line:
    """A polyline over the chart area: x spread evenly, y scaled to the largest value (at least 1)."""
    top = max([1, *values])
    step = (WIDTH - 2 * PAD) / max(len(values) - 1, 1)
    points = " ".join(f"{PAD + i * step:.1f},{HEIGHT - PAD - v / top * (HEIGHT - 2 * PAD):.1f}"
                      for i, v in enumerate(values))
    return Line(title, [str(label) for label in labels], values, points, top)


def bars(items: dict[str, float]) -> list[Bar]:
    """A single stacked bar (a breakdown): one segment per item, widths proportional to its share."""
    total = sum(items.values())
    out, x = [], 0.0
    for label, value in items.items():
        width = (value / total * WIDTH) if total else 0.0
        out.append(Bar(label, value, round(x, 1), round(width, 1), f"{value / total:.0%}" if total else "–"))
        x += width
    return out
