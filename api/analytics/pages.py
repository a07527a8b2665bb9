"""GET /console/analytics: the analytics as charts a person would rather look at than read (Chart.js, vendored),
each with a table of its numbers and a link to download that metric as CSV; and the page's script and assets."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, Response

from api.analytics import charts, service
from api.analytics.charts import Chart
from api.analytics.models import Metric, Period
from api.auth.deps import StaffUser
from api.db import Conn, PoolDep
from api.web.pages import render

router = APIRouter(include_in_schema=False)
STATIC = Path(__file__).parent.parent / "web" / "static"
ASSET_HEADERS = {"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"}
OUTCOME_LABELS = {"bot_resolved": "Resolved by the bot", "escalated": "Escalated to a ticket", "open": "Neither"}
TOP_INTENTS = 10


def _csv_query(period: Period) -> str:
    """The page's period and filters as the query of its tables' CSV downloads (/api/v1/analytics/{metric}.csv)."""
    params = {"from": period.start, "to": period.end, "team": period.team, "category": period.category,
              "granularity": period.granularity.value}
    return urlencode({k: v for k, v in params.items() if v is not None})


def _charts(period: Period, m: dict[str, Any]) -> dict[str, Chart]:
    """Every chart of the page by its id, from the metrics the page computed."""
    per = period.granularity.value.capitalize()
    volume, deflection, sla, csat = m["volume"], m["deflection"], m["sla"], m["deflection"]["csat"]
    intents = deflection["by_intent"][:TOP_INTENTS]
    made = [
        charts.timeline("volume-chart", "Tickets created", volume["buckets"], volume["by_source"], axis=per,
                        kind="bar", stacked=True),
        charts.timeline("backlog-chart", "Open tickets", m["backlog"]["buckets"], {"Open": m["backlog"]["open"]},
                        axis=per),
        charts.timeline("breaches-chart", "SLA breaches", sla["breaches_series"]["buckets"],
                        {"Response": sla["breaches_series"]["respond"], "Resolution": sla["breaches_series"]["resolve"]},
                        axis=per, kind="bar", stacked=True),
        charts.breakdown("source-chart", "Tickets by source", {k: sum(v) for k, v in volume["by_source"].items()},
                         axis="Source"),
        charts.breakdown("category-chart", "Tickets by category",
                         {k: sum(v) for k, v in volume["by_category"].items()}, axis="Category", kind="hbar"),
        charts.breakdown("deflection-chart", "Conversations",
                         {OUTCOME_LABELS[o]: deflection[o] for o in OUTCOME_LABELS}, axis="Outcome"),
        charts.grouped("containment-chart", "Conversations by first intent", [i["intent"] for i in intents],
                       {label: [i[o] for i in intents] for o, label in OUTCOME_LABELS.items()},
                       axis="Intent", kind="hbar", stacked=True),
        charts.breakdown("sla-chart", "SLA (tickets resolved with a clock)",
                         {"Met": sla["both_met"], "Breached": sla["tickets"] - sla["both_met"]}, axis="Outcome"),
        charts.grouped("csat-chart", "Satisfaction scores", [f"{n} of 5" for n in range(1, 6)],
                       {"Resolved by the bot": [csat["bot"]["scores"][str(n)] for n in range(1, 6)],
                        "Resolved by a person": [csat["person"]["scores"][str(n)] for n in range(1, 6)]},
                       axis="Score"),
        charts.breakdown("mttr-chart", "Mean resolution time by team (business hours)",
                         {t["team"]: t["mean_hours"] for t in m["mttr"]["by_team"]}, axis="Team", kind="hbar"),
        charts.breakdown("failing-chart", "Turns the bot misunderstood, by intent",
                         {i["intent"]: i["failed"] for i in m["bot_failures"]["intents"]}, axis="Intent", kind="hbar"),
    ]
    return {c.id: c for c in made}


PARALLEL = 3  # connections one view of the page uses at once: its metrics run side by side
# What the page shows, the slowest first (csat: within deflection's result).
PAGE_METRICS = (Metric.deflection, Metric.mttr, Metric.mtta, Metric.sla, Metric.reopen_rate, Metric.fcr,
                Metric.volume, Metric.bot_failures, Metric.backlog, Metric.kb)


async def page_metrics(connect: Callable[[], AbstractAsyncContextManager[Conn]], period: Period, *,
                       parallel: int = PARALLEL) -> dict[str, Any]:
    """Every metric the page shows, ``parallel`` at a time, each on a connection of ``connect`` (the pool's;
    bench/console.py times the statements alone, one after another on one connection). The slowest first."""
    gate = asyncio.Semaphore(parallel)

    async def one(metric: Metric) -> dict[str, Any]:
        async with gate, connect() as conn:
            return await service.COMPUTE[metric](conn, period)

    return dict(zip((m.value for m in PAGE_METRICS), await asyncio.gather(*(one(m) for m in PAGE_METRICS)), strict=True))


@router.get("/console/analytics")
async def analytics_page(request: Request, period: Annotated[Period, Query()], pool: PoolDep,
                         principal: StaffUser) -> Response:
    metrics = await page_metrics(pool.connection, period)
    made = _charts(period, metrics)
    return render(request, "console/analytics.html", {
        "principal": principal, "period": period, **metrics, "csat": metrics["deflection"]["csat"],
        "charts": made, "specs": {k: c.spec() for k, c in made.items()}, "csv_query": _csv_query(period),
        "chart_js": f"/console/vendor/chart-{charts.CHART_JS_VERSION}.umd.min.js"})


@router.get("/console/analytics.css")
async def analytics_css() -> FileResponse:
    return FileResponse(STATIC / "analytics.css", media_type="text/css; charset=utf-8", headers=ASSET_HEADERS)


@router.get("/console/analytics.js")
async def analytics_js() -> FileResponse:
    return FileResponse(STATIC / "analytics.js", media_type="text/javascript; charset=utf-8", headers=ASSET_HEADERS)


@router.get(f"/console/vendor/chart-{charts.CHART_JS_VERSION}.umd.min.js")
async def chart_js() -> FileResponse:
    """Chart.js, pinned: the version is in the URL, so browsers may keep it."""
    return FileResponse(STATIC / charts.CHART_JS, media_type="text/javascript; charset=utf-8",
                        headers=ASSET_HEADERS | {"Cache-Control": "public, max-age=31536000, immutable"})
