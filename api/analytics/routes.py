"""GET /api/v1/analytics/{metric}: agents and admins only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.analytics import service
from api.analytics.models import Metric, MetricResult, Period
from api.auth.deps import StaffUser
from api.db import ConnDep

router = APIRouter(prefix="/analytics", tags=["analytics"])


@router.get("/{metric}")
async def get_metric(metric: Metric, period: Annotated[Period, Query()], conn: ConnDep,
                     _: StaffUser) -> MetricResult:
    """One metric (docs/analytics.md) over ``from``..``to`` (UTC days, default the last 28), per team/category."""
    return await service.get(conn, metric=metric, period=period)
