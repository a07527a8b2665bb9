"""GET /api/v1/analytics/{metric} (JSON) and /api/v1/analytics/{metric}.csv: agents and admins only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from api.analytics import export, service
from api.analytics.models import Metric, MetricResult, Period
from api.auth.deps import StaffUser
from api.db import ConnDep

router = APIRouter(prefix="/analytics", tags=["analytics"])


@router.get("/{metric}.csv", response_class=Response,
            responses={200: {"content": {"text/csv": {}}, "description": "the metric's table, a header row first"}})
async def get_metric_csv(metric: Metric, period: Annotated[Period, Query()], conn: ConnDep, _: StaffUser) -> Response:
    """The same metric as one CSV table (columns: docs/analytics.md), as a download named after it and its filters."""
    result = await service.get(conn, metric=metric, period=period)
    return Response(export.to_csv(result), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="{export.filename(result)}"',
        "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"})


@router.get("/{metric}")
async def get_metric(metric: Metric, period: Annotated[Period, Query()], conn: ConnDep,
                     _: StaffUser) -> MetricResult:
    """One metric (docs/analytics.md) over ``from``..``to`` (UTC days, default the last 28), per team/category."""
    return await service.get(conn, metric=metric, period=period)
