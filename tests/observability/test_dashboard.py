"""deploy/grafana/deskmate.json: a well-formed Grafana dashboard whose every query names only metrics the app
exports, with the panels an operator opens first."""

from __future__ import annotations

import json
import re

import jsonschema
import pytest

from api.observability import metrics
from api.settings import REPO_ROOT

DASHBOARD = REPO_ROOT / "deploy" / "grafana" / "deskmate.json"
# The part of Grafana's dashboard model (schemaVersion 39) this file uses; Grafana refuses a dashboard without these.
GRID = {"type": "object", "required": ["h", "w", "x", "y"], "properties": {
    "h": {"type": "integer", "minimum": 1}, "w": {"type": "integer", "minimum": 1, "maximum": 24},
    "x": {"type": "integer", "minimum": 0, "maximum": 23}, "y": {"type": "integer", "minimum": 0}}}
TARGET = {"type": "object", "required": ["refId", "expr"], "properties": {
    "refId": {"type": "string", "pattern": "^[A-Z]$"}, "expr": {"type": "string", "minLength": 1}}}
PANEL = {"type": "object", "required": ["id", "type", "title", "gridPos"], "properties": {
    "id": {"type": "integer"}, "type": {"enum": ["row", "timeseries", "stat", "gauge", "table"]},
    "title": {"type": "string", "minLength": 1}, "gridPos": GRID,
    "targets": {"type": "array", "items": TARGET}}}
SCHEMA = {"type": "object", "required": ["uid", "title", "schemaVersion", "panels", "templating", "time"],
          "properties": {"uid": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,40}$"}, "title": {"type": "string"},
                         "schemaVersion": {"type": "integer", "minimum": 36}, "panels": {"type": "array", "items": PANEL},
                         "templating": {"type": "object", "required": ["list"]},
                         "time": {"type": "object", "required": ["from", "to"]}}}

# PromQL words that are not metric names: functions (followed by "("), aggregation modifiers, keywords.
_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset",
             "inf", "nan"}
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGES = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENT = re.compile(r"(?<![\w:.$])([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()")


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (label names, functions, keywords and variables left out)."""
    text = _STRINGS.sub('""', expr)
    text = _MATCHERS.sub("", text)
    text = _RANGES.sub("", text)
    text = _GROUPING.sub("", text)
    return {name for name in _IDENT.findall(text) if name.lower() not in _KEYWORDS}


@pytest.fixture(scope="module")
def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def _targets(dashboard: dict) -> list[tuple[str, str]]:
    return [(p["title"], t["expr"]) for p in dashboard["panels"] for t in p.get("targets", [])]


def test_the_dashboard_is_a_well_formed_grafana_dashboard(dashboard):
    jsonschema.validate(dashboard, SCHEMA)
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24, panel["title"]
        if panel["type"] != "row":
            assert panel["targets"], panel["title"]
            refs = [t["refId"] for t in panel["targets"]]
            assert len(refs) == len(set(refs)), panel["title"]
            assert panel["datasource"]["uid"] == "${datasource}"  # the dashboard's Prometheus variable
    assert {v["name"] for v in dashboard["templating"]["list"]} >= {"datasource", "job"}


def test_every_query_names_only_metrics_the_app_exports(dashboard):
    exported = metrics.names()
    for title, expr in _targets(dashboard):
        named = metric_names(expr)
        assert named, f"{title}: no metric found in {expr!r}"
        assert named <= exported, f"{title}: {sorted(named - exported)} are not exported by /metrics"


def test_the_first_panels_an_operator_opens_are_there(dashboard):
    exprs = "\n".join(expr for _, expr in _targets(dashboard))
    used = set().union(*(metric_names(e) for _, e in _targets(dashboard)))
    assert {"deskmate_chat_turn_seconds_bucket", "deskmate_chat_turn_part_seconds_bucket",
            "deskmate_kb_search_seconds_bucket", "deskmate_http_requests_total",
            "deskmate_http_request_duration_seconds_bucket", "deskmate_jobs", "deskmate_jobs_oldest_due_seconds",
            "deskmate_alert_deliveries"} <= used
    assert "histogram_quantile(0.95" in exprs and "histogram_quantile(0.5" in exprs
    assert "/api/v1/tickets" in exprs and 'status=~"5.."' in exprs  # tickets created and their error rate
    assert "by (le, part)" in exprs and "by (le, method, route)" in exprs


@pytest.mark.parametrize(("expr", "names"), [
    ('histogram_quantile(0.95, sum by (le, route) (rate(a_bucket{job=~"$job", route="x"}[$__rate_interval])))',
     {"a_bucket"}),
    ("sum(rate(a_total[5m])) / sum(rate(b_total{status=~\"5..\"}[5m]))", {"a_total", "b_total"}),
    ('max by (queue) (c{state="due"}) or on(queue) d', {"c", "d"}),
    ("topk(10, e)", {"e"}),
])
def test_metric_names_are_read_from_promql(expr, names):
    assert metric_names(expr) == names
