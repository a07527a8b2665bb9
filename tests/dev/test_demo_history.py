"""The demo history (api/dev/history.py): loaded once, from every source into every category and team, queueing
nothing, and every analytics endpoint shows it over the default period."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest
from asgi_lifespan import LifespanManager
from psycopg.rows import dict_row

from api import migrate
from api.analytics import rollups
from api.analytics import service as analytics
from api.analytics.models import Metric, Period
from api.app import create_app
from api.auth import service as people
from api.dev import demo, embedded_pg, history
from api.dev.history_plan import SOURCES, Org, Planner, Timeline, opening_times
from api.dev.history_text import ISSUES
from api.settings import REPO_ROOT, Settings
from api.sla import clock
from api.sla.calendar import Calendar

ORG = REPO_ROOT / "data" / "demo" / "org.yml"
QUEUES = {"jobs": "SELECT count(*) AS n FROM procrastinate_jobs",
          "alert_firings": "SELECT count(*) AS n FROM alert_firings",
          "alert_deliveries": "SELECT count(*) AS n FROM alert_deliveries",
          "notifications": "SELECT count(*) AS n FROM notifications",
          "sync_outbox": "SELECT count(*) AS n FROM sync_outbox",
          "surveys_to_send": "SELECT count(*) AS n FROM csat_surveys WHERE status <> 'sent' OR token_hash IS NOT NULL"}
TABLES = ("tickets", "ticket_events", "ticket_sla", "chat_conversations", "chat_messages", "kb_answers",
          "workflow_runs", "csat_surveys")


@dataclass
class Seeded:
    url: str
    counts: dict[str, int]
    queued_before: dict[str, int]


async def _counts(conn: psycopg.AsyncConnection, queries: dict[str, str]) -> dict[str, int]:
    return {name: (await (await conn.execute(q)).fetchone())["n"] for name, q in queries.items()}


@pytest.fixture(scope="module")
async def seeded(pg_server: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Seeded]:
    """A database of its own with the demo org, three published articles and the history."""
    name = f"deskmate_history_{uuid.uuid4().hex[:8]}"
    embedded_pg.ensure_database(pg_server, name)
    url = pg_server.replace("/postgres?", f"/{name}?")
    migrate.migrate(url, REPO_ROOT / "migrations")
    async with await psycopg.AsyncConnection.connect(url, autocommit=True, row_factory=dict_row) as conn:
        await demo.seed(conn, path=ORG, tokens_file=tmp_path_factory.mktemp("history") / "tokens.env",
                        settings=Settings(env="test", _env_file=None))  # type: ignore[call-arg]
        for slug, category in (("reset-your-password", "accounts"), ("vpn-drops", "network"),
                               ("printer-jams", "printing")):
            await conn.execute("INSERT INTO kb_articles (id, title, category, body, content_hash) "
                               "VALUES (%s, %s, %s, 'Steps.', 'h')", (slug, slug.replace("-", " "), category))
        before = await _counts(conn, QUEUES)
        counts = await history.seed(conn, workflows_dir=REPO_ROOT / "data" / "workflows")
    assert counts is not None
    yield Seeded(url=url, counts=counts, queued_before=before)
    embedded_pg.drop_database(pg_server, name)


@pytest.fixture
async def hconn(seeded: Seeded) -> AsyncIterator[psycopg.AsyncConnection]:
    async with await psycopg.AsyncConnection.connect(seeded.url, autocommit=True, row_factory=dict_row) as c:
        yield c


async def _column(conn: psycopg.AsyncConnection, query: str) -> list:
    return [next(iter(r.values())) for r in await (await conn.execute(query)).fetchall()]


async def test_the_history_is_loaded_once(seeded: Seeded, hconn) -> None:
    rows = {t: (await (await hconn.execute(f"SELECT count(*) AS n FROM {t}")).fetchone())["n"] for t in TABLES}
    assert rows["tickets"] == seeded.counts["tickets"] == history.TICKETS_PER_WEEK * history.WEEKS
    assert rows["chat_messages"] == seeded.counts["messages"] > rows["chat_conversations"] > 0
    assert await history.seed(hconn, workflows_dir=REPO_ROOT / "data" / "workflows") is None
    again = {t: (await (await hconn.execute(f"SELECT count(*) AS n FROM {t}")).fetchone())["n"] for t in TABLES}
    assert again == rows


async def test_the_analytics_rollups_hold_the_history_and_equal_the_live_metrics(seeded: Seeded, hconn) -> None:
    assert await rollups.state(hconn) is not None
    rolled = (await hconn.execute("SELECT count(*) AS n FROM ticket_durations")).fetchone()
    assert (await rolled)["n"] == seeded.counts["tickets"]
    for period in (Period(), Period(granularity="week"), Period.model_validate({"category": "network"})):
        for metric in (analytics.backlog, analytics.mtta, analytics.mttr, analytics.fcr):
            assert await metric(hconn, period) == await metric(hconn, period, rolled=False), (metric, period)


async def test_every_source_category_and_team_and_a_weekday_pattern(hconn) -> None:
    assert set(await _column(hconn, "SELECT DISTINCT source_type FROM tickets")) == set(SOURCES)
    assert set(await _column(hconn, "SELECT DISTINCT c.slug FROM tickets t JOIN categories c ON c.id = t.category_id")) \
        == set(ISSUES)
    assert set(await _column(hconn, "SELECT DISTINCT team_id FROM tickets")) == set(await _column(
        hconn, "SELECT id FROM teams"))
    assert {"new", "in_progress", "resolved", "closed"} <= set(await _column(hconn, "SELECT DISTINCT status FROM tickets"))
    days = {r["d"]: r["n"] for r in await (await hconn.execute(
        "SELECT extract(isodow FROM created_at AT TIME ZONE 'Europe/Berlin')::int AS d, count(*) AS n "
        "FROM tickets GROUP BY 1")).fetchall()}
    assert min(days[d] for d in range(1, 6)) > 3 * max(days.get(6, 0), days.get(7, 0))
    hours = await _column(hconn, "SELECT count(*) FILTER (WHERE extract(hour FROM created_at AT TIME ZONE "
                                 "'Europe/Berlin') BETWEEN 8 AND 17)::float / count(*) FROM tickets")
    assert hours[0] > 0.8  # office hours


async def test_nothing_is_queued_for_the_history(seeded: Seeded, hconn) -> None:
    assert await _counts(hconn, QUEUES) == seeded.queued_before
    assert await clock.overdue(hconn) == []  # the SLA sweeper has no warning or breach to catch up on


async def test_events_are_those_the_services_write(hconn) -> None:
    kinds = set(await _column(hconn, "SELECT DISTINCT kind FROM ticket_events"))
    assert {"created", "assigned", "status_changed", "sla_breach", "sla_warning", "updated"} <= kinds
    created = await _column(hconn, "SELECT count(*) FROM tickets t WHERE NOT EXISTS (SELECT 1 FROM ticket_events e "
                                    "WHERE e.ticket_id = t.id AND e.kind = 'created' AND e.created_at = t.created_at)")
    assert created == [0]
    out_of_order = await _column(hconn, "SELECT count(*) FROM ticket_events e JOIN tickets t ON t.id = e.ticket_id "
                                         "WHERE e.created_at < t.created_at OR e.created_at > now()")
    assert out_of_order == [0]


@pytest.fixture
async def history_client(seeded: Seeded, hconn) -> AsyncIterator[httpx.AsyncClient]:
    """The app on the history's database, as the demo admin."""
    settings = Settings(env="test", database_url=seeded.url, data_dir=REPO_ROOT / "var" / "test",
                        _env_file=None)  # type: ignore[call-arg]
    admin = await people.get_by_email(hconn, email="admin@example.com")
    assert admin is not None
    token = (await people.create_token(hconn, user=admin)).token
    application = create_app(settings)
    async with LifespanManager(application) as manager:
        transport = httpx.ASGITransport(app=manager.app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://test",
                                     headers={"Authorization": f"Bearer {token}"}) as c:
            yield c


async def test_every_analytics_endpoint_shows_the_history(history_client: httpx.AsyncClient, hconn) -> None:
    data = {}
    for metric in Metric:
        r = await history_client.get(f"/api/v1/analytics/{metric}")
        assert r.status_code == 200, r.text
        data[metric] = r.json()["data"]
    since = Period().params()["start"]
    in_period = (await (await hconn.execute("SELECT count(*) AS n FROM tickets WHERE created_at >= %s",
                                            (since,))).fetchone())["n"]
    assert data[Metric.volume]["tickets"] == in_period > 0
    assert set(data[Metric.volume]["by_source"]) == set(SOURCES) and set(data[Metric.volume]["by_category"]) == set(ISSUES)
    assert max(data[Metric.backlog]["open"]) > 0
    assert data[Metric.mtta]["tickets"] > 0 and data[Metric.mttr]["tickets"] > 0
    assert 0 < data[Metric.fcr]["first_contact"] < data[Metric.fcr]["resolved"]
    assert data[Metric.reopen_rate]["reopened"] > 0
    sla = data[Metric.sla]
    assert 0 < sla["both_met"] < sla["tickets"] and sum(sla["breaches_series"]["respond"]) > 0
    flow = data[Metric.deflection]
    assert min(flow["bot_resolved"], flow["escalated"], flow["open"]) > 0
    failures = data[Metric.bot_failures]
    assert failures["intents"] and failures["questions"] and failures["unhelpful_answers"]
    assert any(a["helpful"] > 0 and a["views"] > 0 for a in data[Metric.kb]["articles"])
    for who in ("bot", "person"):
        assert data[Metric.csat][who]["answered"] > 0 and data[Metric.csat][who]["asked"] > 0


def _plan(seed: int) -> list[dict]:
    end = datetime(2026, 3, 2, 12, tzinfo=UTC)
    start = end - timedelta(weeks=2)
    org = Org(employees=[1, 2], emails={1: "a@example.com", 2: "b@example.com"}, agents={10: [5]},
              categories={slug: (n, 10) for n, slug in enumerate(ISSUES)},
              policies={(p, None): {"id": p, "respond_minutes": 60 * p, "resolve_minutes": 480 * p, "warn_ratio": 0.8}
                        for p in range(1, 6)},
              calendars={10: (None, Timeline(Calendar.always_open(), start - timedelta(days=2), end + timedelta(days=90)))},
              articles={}, workflows={"account_unlock": 1, "password_reset": 2}, bot_id=9)
    rng = random.Random(seed)
    planner = Planner(rng, org, end.timestamp())
    times = opening_times(rng, start=start, end=end, n=300)
    chunk = planner.chunk(list(range(1, 301)), times, planner.kinds(300), first_answer=1, first_run=1)
    return chunk.tickets + chunk.conversations


def test_the_same_seed_plans_the_same_history() -> None:
    first = _plan(14)
    assert first == _plan(14)
    assert first != _plan(15)
