"""The agent console and the analytics at scale: p50/p95 of each page over HTTP, and of the database alone.

Loads --tickets tickets and --messages chat messages (default: a million and three million, over --weeks of
history) into a database of its own with the demo history's generator (api/dev/history.py: COPY into staging,
INSERT … SELECT), printing a progress bar and the load time, and brings the analytics rollups up to date (timed:
what `deskmate analytics refresh` does after an upgrade; on a kept database, the tickets since; --live empties them
instead, to measure the metrics computed live). Then, against a real `deskmate serve` (one uvicorn worker), as a
demo agent, for each page --requests sequential requests:

- the console's queue page for every queue (mine, teams, unassigned, breaching, all), without and with a search,
- the console's ticket page (a different ticket of the agent's team each time),
- every /api/v1/analytics/<metric> over its default period (the last 28 days),

and, in the same run, the database time of the same page: its data access (the functions the handler calls) run
here on a connection that times every statement; "db_share" is db p50 / http p50. GET /api/v1/me is the baseline
(authentication and the framework, no page). Progress on stderr, one JSON object on stdout.

    .venv/bin/python bench/console.py [--tickets 1000000] [--messages 3000000] [--weeks 104] [--requests 30]
    .venv/bin/python bench/console.py --tickets 2000 --messages 6000 --load-only   # the generator alone
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import httpx
import psycopg
from _server import REPO_ROOT, api_process, bench_database, run_clients, summary
from psycopg.rows import dict_row
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

import kb_index
from api.analytics import pages as analytics_pages
from api.analytics import rollups
from api.analytics import service as analytics
from api.analytics.models import Metric, Period
from api.auth import service as people
from api.auth.models import Principal
from api.dev import history
from api.kb import embedding
from api.settings import Settings
from api.web.console import routes as console

QUEUES = ("mine", "teams", "unassigned", "breaching", "all")
SEARCH = "vpn"
AGENT = "priya.nair@example.com"  # Identity & Access: the busiest team of the demo
COUNTED = {"tickets": "tickets", "ticket_events": "ticket_events", "conversations": "chat_conversations",
           "messages": "chat_messages", "csat_surveys": "csat_surveys"}


class TimedConnection(psycopg.AsyncConnection):
    """A connection that adds up the time its statements take (sent, run, rows received)."""

    db_seconds = 0.0

    async def execute(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        started = time.perf_counter()
        try:
            return await super().execute(*args, **kwargs)
        finally:
            self.db_seconds += time.perf_counter() - started


async def load(url: str, *, tickets: int, messages: int, weeks: int, chunk: int) -> dict[str, Any]:
    """The generator's rows (progress bar on stderr), its time, and the rows then in the tables."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True, row_factory=dict_row) as conn:
        await history.sync_workflows(conn, REPO_ROOT / "data" / "workflows")
        end = (await (await conn.execute(history.Q.db_now)).fetchone())["now"]  # type: ignore[index]
        columns = (TextColumn("loading"), BarColumn(), MofNCompleteColumn(), TextColumn("tickets"), TimeElapsedColumn())
        with Progress(*columns, console=Console(stderr=True)) as bar:
            task = bar.add_task("load", total=tickets)
            started = time.perf_counter()
            written = await history.generate(conn, start=end - timedelta(weeks=weeks), end=end, tickets=tickets,
                                             messages=messages, chunk=chunk,
                                             on_progress=lambda done, _: bar.update(task, completed=done))
            seconds = time.perf_counter() - started
        await conn.execute("VACUUM ANALYZE")
    in_tables = {k: await _count(url, t) for k, t in COUNTED.items()}
    return {"seconds": round(seconds, 1), "written": written, "in_tables": in_tables,
            "tickets_per_s": round(tickets / seconds)}


async def refresh_rollups(url: str, *, live: bool) -> dict[str, Any]:
    """Brings the analytics rollups up to date (what `deskmate analytics refresh` does after an upgrade), timed;
    ``live``: empties them instead (the metrics are then computed as before migration 0045)."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True, row_factory=dict_row) as conn:
        if live:
            await rollups.clear(conn)
            return {"cleared": True}
        started = time.perf_counter()
        done = await rollups.refresh(conn)
        return done | {"seconds": round(time.perf_counter() - started, 1)}


async def _count(url: str, table: str) -> int:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True, row_factory=dict_row) as conn:
        query = psycopg.sql.SQL("SELECT count(*) AS n FROM {}").format(psycopg.sql.Identifier(table))
        return int((await (await conn.execute(query)).fetchone())["n"])  # type: ignore[index]


@asynccontextmanager
async def _lent(conn: Any) -> AsyncIterator[Any]:
    yield conn


def _pages(numbers: list[str]) -> dict[str, tuple[str, Callable[[Any, Principal, int], Awaitable[Any]]]]:
    """Each page: its URL (``{i}``: the request's number) and the data access of its handler."""
    settings = Settings()
    stub = SimpleNamespace(app=SimpleNamespace(state=SimpleNamespace(  # what the ticket page reads of the app
        llm=None, kb_embedder=embedding.get_kb_embedder(settings), kb_intents={}, settings=settings)))
    pages: dict[str, tuple[str, Callable[[Any, Principal, int], Awaitable[Any]]]] = {}
    for queue in QUEUES:
        for q in ("", SEARCH):
            name = f"console_{queue}" + ("_search" if q else "")
            query = console.QueueQuery(queue=queue, q=q or None)
            pages[name] = (f"/console?queue={queue}&q={q}",
                           lambda conn, p, i, query=query: console._queue(conn, p, query))
    pages["console_ticket"] = ("/console/tickets/{number}", lambda conn, p, i: console._ticket_context(
        stub, conn, p, numbers[i % len(numbers)]))  # type: ignore[arg-type]
    for metric in Metric:
        pages[f"analytics_{metric}"] = (f"/api/v1/analytics/{metric}", lambda conn, p, i, metric=metric:
                                        analytics.get(conn, metric=metric, period=Period()))
    pages["analytics_page"] = ("/console/analytics", lambda conn, p, i: analytics_pages.page_metrics(
        lambda: _lent(conn), Period(), parallel=1))  # the db time: its statements one after another
    return pages


async def _db_times(url: str, principal: Principal, call: Callable[[Any, Principal, int], Awaitable[Any]],
                    requests: int, warm: int = 2) -> dict[str, float]:
    """The statements' time per page view (sequential), as the http runs measure the page."""
    times = []
    async with await TimedConnection.connect(url, autocommit=True, row_factory=dict_row) as conn:
        await kb_index.register(conn)
        for i in range(requests + warm):  # the first ones warm the connection's caches, as the http warm-up does
            conn.db_seconds = 0.0
            await call(conn, principal, i)
            if i >= warm:
                times.append(conn.db_seconds)
    stats = summary(times, sum(times) or 1.0)
    return {"p50_ms": stats["p50_ms"], "p95_ms": stats["p95_ms"]}


async def measure(url: str, base: str, token: str, requests: int, only: str = "") -> dict[str, Any]:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True, row_factory=dict_row) as conn:
        principal = await people.principal_for_token(conn, token=token)
        rows = await (await conn.execute(
            "SELECT number FROM tickets WHERE team_id = ANY(%(teams)s) ORDER BY id DESC LIMIT 500",
            {"teams": list(principal.team_ids)})).fetchall()
    numbers = [r["number"] for r in rows]
    random.Random(7).shuffle(numbers)
    headers = {"Authorization": f"Bearer {token}"}
    results: dict[str, Any] = {}

    def get(path: str) -> Callable[[httpx.AsyncClient, int, int], Awaitable[None]]:
        async def call(http: httpx.AsyncClient, c: int, i: int) -> None:
            (await http.get(path.format(number=numbers[i % len(numbers)]))).raise_for_status()
        return call

    await run_clients(1, 3, get("/api/v1/me"), base, headers)  # warm-up
    results["baseline_me"] = {"http": await run_clients(1, requests, get("/api/v1/me"), base, headers)}
    for name, (path, call) in _pages(numbers).items():
        if only and not name.startswith(only):
            continue
        try:
            await run_clients(1, 2, get(path), base, headers)  # warm-up
            http = await run_clients(1, requests, get(path), base, headers)
        except httpx.TimeoutException:  # record it and go on; one view's database time shows where it goes
            results[name] = {"http": "timed out (over 30 s)", "db": await _db_times(url, principal, call, 2, warm=0)}
        else:
            db = await _db_times(url, principal, call, requests)
            results[name] = {"http": {k: http[k] for k in ("p50_ms", "p95_ms", "max_ms")}, "db": db,
                             "db_share": round(db["p50_ms"] / http["p50_ms"], 2) if http["p50_ms"] else None}
        print(f"{name}: {json.dumps(results[name])}", file=sys.stderr, flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--messages", type=int, default=3_000_000)
    parser.add_argument("--weeks", type=int, default=104, help="the history's span, up to now")
    parser.add_argument("--requests", type=int, default=30, help="sequential requests per page")
    parser.add_argument("--port", type=int, default=8767)
    parser.add_argument("--database", default="deskmate_bench_console", help="dropped and made anew")
    parser.add_argument("--chunk", type=int, default=history.CHUNK, help="tickets per load transaction")
    parser.add_argument("--keep", action="store_true", help="keep the database, and measure a kept one without "
                                                            "loading it again")
    parser.add_argument("--only", default="", help="measure only the pages whose name starts so (console, analytics)")
    parser.add_argument("--load-only", action="store_true", help="load, count, and stop")
    parser.add_argument("--live", action="store_true", help="empty the analytics rollups instead of refreshing them: "
                                                            "the metrics computed live, as before migration 0045")
    args = parser.parse_args()

    report: dict[str, Any] = {"benchmark": "console", "tickets": args.tickets, "messages": args.messages,
                              "weeks": args.weeks, "machine": {"cpus": os.cpu_count(),
                                                               "python": platform.python_version()}}
    with bench_database(args.database, keep=args.keep) as url:
        if asyncio.run(_count(url, "tickets")) == 0:
            report["load"] = asyncio.run(load(url, tickets=args.tickets, messages=args.messages, weeks=args.weeks,
                                             chunk=args.chunk))
        else:
            report["load"] = {"kept": {k: asyncio.run(_count(url, t)) for k, t in COUNTED.items()}}
        report["rollups"] = asyncio.run(refresh_rollups(url, live=args.live))
        print(f"rollups: {json.dumps(report['rollups'])}", file=sys.stderr, flush=True)
        if not args.load_only:
            async def agent_token() -> str:
                async with await psycopg.AsyncConnection.connect(url, autocommit=True, row_factory=dict_row) as conn:
                    user = await people.get_by_email(conn, email=AGENT)
                    assert user is not None
                    return (await people.create_token(conn, user=user)).token

            token = asyncio.run(agent_token())
            with api_process(url, args.port, ready_timeout_s=600) as base:  # a busy machine starts slowly
                report["server"] = "deskmate serve, 1 uvicorn worker, embedded PostgreSQL 18 over a unix socket"
                report["requests_per_page"] = args.requests
                report["pages"] = asyncio.run(measure(url, base, token, args.requests, args.only))
                # printed before the api is stopped: stopping it can time out while a slow query still runs
                print(json.dumps(report, indent=2), flush=True)
        if args.load_only:
            print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
