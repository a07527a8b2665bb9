"""GET /console/analytics: the analytics as charts a person can look at, each with a table of its numbers and a link
to download that metric as CSV."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, Response

from api.analytics import charts, service
from api.analytics.models import Period
from api.auth.deps import StaffUser
from api.db import ConnDep
from api.web.pages import render

router = APIRouter(include_in_schema=False)


def _csv_query(period: Period) -> str:
    """The page's period and filters as the query of its tables' CSV downloads (/api/v1/analytics/{metric}.csv)."""
    params = {"from": period.start, "to": period.end, "team": period.team, "category": period.category,
              "granularity": period.granularity.value}
    return urlencode({k: v for k, v in params.items() if v is not None})


@router.get("/console/analytics")
async def analytics_page(request: Request, period: Annotated[Period, Query()], conn: ConnDep,
                         principal: StaffUser) -> Response:
    volume = await service.volume(conn, period)
    backlog = await service.backlog(conn, period)
    deflection = await service.deflection(conn, period)
    sla = await service.sla(conn, period)
    context = {
        "principal": principal, "period": period,
        "volume": charts.line("Tickets created", volume["buckets"], volume["total"]),
        "backlog": charts.line("Open tickets", backlog["buckets"], backlog["open"]),
        "by_source": charts.bars({k: sum(v) for k, v in volume["by_source"].items()}),
        "by_category": charts.bars({k: sum(v) for k, v in volume["by_category"].items()}),
        "deflection": deflection,
        "deflection_bars": charts.bars({"Resolved by the bot": deflection["bot_resolved"],
                                        "Escalated to a ticket": deflection["escalated"],
                                        "Neither": deflection["open"]}),
        "sla": sla,
        "sla_bars": charts.bars({"Met": sla["both_met"], "Breached": sla["tickets"] - sla["both_met"]}),
        "csat": deflection["csat"],
        "csat_bars": {who: charts.bars({f"{n} of 5": count for n, count in deflection["csat"][who]["scores"].items()})
                      for who in ("bot", "person")},
        "mttr": await service.mttr(conn, period), "mtta": await service.mtta(conn, period),
        "fcr": await service.fcr(conn, period), "reopen": await service.reopen_rate(conn, period),
        "width": charts.WIDTH, "height": charts.HEIGHT, "pad": charts.PAD, "csv_query": _csv_query(period),
    }
    return render(request, "console/analytics.html", context)


@router.get("/console/analytics.css")
async def analytics_css() -> FileResponse:
    return FileResponse(Path(__file__).parent.parent / "web" / "static" / "analytics.css", media_type="text/css; charset=utf-8",
                        headers={"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"})
