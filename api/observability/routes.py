"""GET /metrics for Prometheus: only with ``Authorization: Bearer $DESKMATE_METRICS_TOKEN`` (off when unset)."""

from __future__ import annotations

import hmac
import logging

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from api.errors import Forbidden, Unauthorized
from api.observability import metrics
from api.settings import Settings

log = logging.getLogger(__name__)
router = APIRouter(tags=["operations"])


def _check(settings: Settings, authorization: str) -> None:
    if settings.metrics_token is None:
        raise Forbidden("Metrics are off on this server: set DESKMATE_METRICS_TOKEN and scrape with it "
                        "(docs/operations.md).")
    scheme, _, given = authorization.partition(" ")
    expected = settings.metrics_token.get_secret_value()
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected.encode()):
        refused = Unauthorized("Send the metrics token as 'Authorization: Bearer <DESKMATE_METRICS_TOKEN>'.")
        refused.headers = {"WWW-Authenticate": 'Bearer realm="metrics"'}
        raise refused


@router.get("/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
async def scrape(request: Request) -> Response:
    """Prometheus' text format: requests, chat turns, KB searches, the job queue and alert deliveries."""
    settings: Settings = request.app.state.settings
    _check(settings, request.headers.get("authorization", ""))
    try:
        async with request.app.state.pool.connection(timeout=settings.db_acquire_timeout_s) as conn:
            gauges = await metrics.database_gauges(conn)
    except Exception as exc:  # noqa: BLE001 - the process's own metrics still matter when the database is down
        log.warning("metrics: the database gauges are missing", extra={"kind": type(exc).__name__})
        gauges = []
    gauges.append(metrics.database_ok(bool(gauges)))
    return Response(metrics.exposition(gauges), media_type=CONTENT_TYPE_LATEST)
