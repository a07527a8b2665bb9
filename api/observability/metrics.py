"""The api's Prometheus metrics (prometheus-client): what is measured, and the text a scrape of /metrics gets.

Counters and histograms are the library's usual module-level objects, moved by the middleware (HTTP requests), the
chat gateway (turns) and the knowledge base (searches). The job queue and the alert deliveries are read from
Postgres when Prometheus scrapes, so they are right whichever process did the work (the worker, another replica).

With ``PROMETHEUS_MULTIPROC_DIR`` set (several uvicorn workers in one process tree, docs/operations.md) the scrape
adds up every worker's values from that directory.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric

from api import sql
from api.db import Conn

Q = sql.load("api.observability")
PREFIX = "deskmate_"
HTTP_REQUESTS = Counter("deskmate_http_requests", "HTTP requests answered, by route template and status.",
                        ["method", "route", "status"])
HTTP_SECONDS = Histogram("deskmate_http_request_duration_seconds", "Time to answer an HTTP request, by route template.",
                         ["method", "route"],
                         buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
_TURN_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30)
CHAT_TURNS = Counter("deskmate_chat_turns", "Chat turns sent to Rasa, by outcome "
                     "(answered, no_reply, rasa_unavailable, rasa_timeout).", ["outcome"])
CHAT_TURN_SECONDS = Histogram("deskmate_chat_turn_seconds", "A chat turn through the gateway, Rasa included.",
                              buckets=_TURN_BUCKETS)
CHAT_PART_SECONDS = Histogram("deskmate_chat_turn_part_seconds", "The parts of a chat turn, adding up to the turn: "
                              "gateway (the api's own work), rasa (Rasa, its actions excepted), action (Rasa waiting "
                              "for the action server).", ["part"], buckets=_TURN_BUCKETS)
KB_SEARCH_SECONDS = Histogram("deskmate_kb_search_seconds", "A knowledge-base search, query embedding included "
                              "(kind: search, answer).", ["kind"],
                              buckets=(0.005, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04, 0.06, 0.1, 0.25, 0.5, 1, 2.5))
UNMATCHED = "<unmatched>"
# The scrape-time gauges: name -> (help, labels). The dashboard test checks panels against these and the above.
GAUGES = {
    "deskmate_jobs": ("Background jobs by queue and state (due: waiting and due now; scheduled: due later; doing).",
                      ["queue", "state"]),
    "deskmate_jobs_oldest_due_seconds": ("How long the oldest due job of the queue has waited (0: none waits).",
                                         ["queue"]),
    "deskmate_alert_deliveries": ("Alert deliveries kept, by channel and status (pending, sending, retrying, sent, "
                                  "failed, dead, skipped).", ["channel", "status"]),
    "deskmate_metrics_database_ok": ("1 when this scrape read the gauges above from the database, 0 when it could "
                                     "not (they are missing then).", []),
}


def observe_turn(*, total_s: float, rasa_s: float | None, action_s: float | None, outcome: str) -> None:
    """One chat turn that went to Rasa: its outcome, its time, and the time split into gateway / Rasa / action.

    ``rasa_s`` is the gateway's wait for Rasa (None when Rasa never answered: then the turn only counts);
    ``action_s`` the part of it Rasa spent waiting for the action server, when Rasa reported it."""
    CHAT_TURNS.labels(outcome).inc()
    if rasa_s is None:
        return
    action = max(0.0, min(action_s or 0.0, rasa_s))
    CHAT_TURN_SECONDS.observe(total_s)
    CHAT_PART_SECONDS.labels("gateway").observe(max(0.0, total_s - rasa_s))
    CHAT_PART_SECONDS.labels("rasa").observe(rasa_s - action)
    if action_s is not None:
        CHAT_PART_SECONDS.labels("action").observe(action)


def observe_request(*, method: str, route: str, status: int, seconds: float) -> None:
    HTTP_REQUESTS.labels(method, route, str(status)).inc()
    HTTP_SECONDS.labels(method, route).observe(seconds)


class _Rows:
    """A one-scrape collector of the gauges read from the database."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        yield from self.families


def _family(name: str) -> GaugeMetricFamily:
    help_text, labels = GAUGES[name]
    return GaugeMetricFamily(name, help_text, labels=labels)


async def database_gauges(conn: Conn) -> list[Metric]:
    """The job queue's depth and oldest due job per queue, and the alert deliveries by channel and status."""
    jobs, oldest, deliveries = (_family(n) for n in list(GAUGES)[:3])
    for row in await (await conn.execute(Q.job_queues)).fetchall():
        for state in ("due", "scheduled", "doing"):
            jobs.add_metric([row["queue"], state], row[state])
        oldest.add_metric([row["queue"]], row["oldest_due_s"])
    for row in await (await conn.execute(Q.alert_deliveries)).fetchall():
        deliveries.add_metric([row["channel"], row["status"]], row["n"])
    return [jobs, oldest, deliveries]


def database_ok(ok: bool) -> Metric:
    family = _family("deskmate_metrics_database_ok")
    family.add_metric([], 1 if ok else 0)
    return family


def prepare_workers(directory: Path) -> Path:
    """For ``uvicorn --workers N``: an empty ``directory`` as PROMETHEUS_MULTIPROC_DIR, set in this process's
    environment before the workers start (they inherit it, and prometheus-client reads it when imported)."""
    shutil.rmtree(directory, ignore_errors=True)  # the counts of an earlier run must not add up with these
    directory.mkdir(parents=True, mode=0o700)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
    return directory


def _process_registry() -> CollectorRegistry:
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY  # this process's metrics, with the library's process_* (memory, CPU) and python_* ones
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # every worker's files in PROMETHEUS_MULTIPROC_DIR
    return registry


def exposition(extra: Iterable[Metric] = ()) -> bytes:
    """The text format Prometheus scrapes: the process's (or all workers') metrics, then ``extra``."""
    rows = CollectorRegistry(auto_describe=False)
    rows.register(_Rows(list(extra)))  # type: ignore[arg-type]
    return generate_latest(_process_registry()) + generate_latest(rows)


_SUFFIXES = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_sum", "_count", "_created"),
             "summary": ("_sum", "_count", "_created"), "info": ("_info",), "gauge": ()}


def names() -> set[str]:
    """Every time series name /metrics may show (``_bucket``, ``_total``… included): the dashboard uses no other."""
    found: set[str] = set(GAUGES)
    for metric in REGISTRY.collect():
        found.add(metric.name)
        found.update(metric.name + suffix for suffix in _SUFFIXES.get(metric.type, ()))
    return found


def kb_search(kind: str) -> Any:
    """Times a knowledge-base search: ``with metrics.kb_search("answer"): …``."""
    return KB_SEARCH_SECONDS.labels(kind).time()
