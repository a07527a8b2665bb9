"""Sync throughput and lag against the fake GLPI, with and without simulated latency.

In a database of its own on the embedded PostgreSQL (demo org), for each latency (0 ms, the baseline, and
--latency-ms, default 20) with a fresh fake GLPI and a connector to it (the previous one disabled):

1. outbound: --tickets new tickets created through the ticket service; triage (untimed here, bench/triage.py
   measures it) records their events in the sync outbox and queues the pushes in its transaction; then an
   in-process burst worker on the sync queue pushes them. tickets/s = tickets / the worker's time; lag = the
   moment the fake added the ticket − the later of its first outbox item's created_at and the worker's start
   (the whole burst is queued before the worker starts, so the lag is mostly the wait in the queue: p50 ≈
   half the drain time).
2. inbound: one poll sets the cursor; then one follow-up is added in the fake on every linked ticket and a
   poll brings them in. tickets/s = changes / the poll's time; lag = the comment's created_at − the moment
   the fake added the follow-up.

The share of time in the fake is the fake's own answer time (its latency included) summed over requests,
divided by the worker's or the poll's time × the worker's concurrency: exact at --concurrency 1 (the default:
one job at a time), slot occupancy above. Progress on stderr, one JSON object on stdout.

    .venv/bin/python bench/sync.py [--tickets 1000] [--latency-ms 20] [--concurrency 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import sys
import time
from typing import Any

import psycopg
from _server import BENCH_DATA_DIR, bench_database, percentiles
from psycopg.rows import dict_row
from pydantic import SecretStr

from api.auth.models import Principal, Role
from api.dev.fake_glpi import FakeGlpiServer
from api.integrations.outbound import OutboundSettings
from api.integrations.sync import connectors, engine
from api.integrations.sync.models import ConnectorIn
from api.jobs import worker
from api.settings import Settings
from api.tickets import service as tickets
from api.tickets.models import TicketCreate


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _lags(seconds: list[float]) -> dict[str, float] | None:
    if not seconds:
        return None
    ms = sorted(s * 1000 for s in seconds)
    q = percentiles(ms)
    return {"p50_ms": round(q[49], 1), "p95_ms": round(q[94], 1), "max_ms": round(ms[-1], 1)}


def _share(busy_s: float, elapsed_s: float, concurrency: int) -> dict[str, float]:
    fake = min(busy_s / (elapsed_s * concurrency), 1.0)
    return {"fake": round(fake, 3), "deskmate": round(1 - fake, 3)}


async def _employee(conn: psycopg.AsyncConnection[Any]) -> Principal:
    row = await (await conn.execute("SELECT id, email, name FROM users WHERE role = 'employee' AND active "
                                    "ORDER BY id LIMIT 1")).fetchone()
    assert row is not None, "the demo org has no employee"
    return Principal(id=row["id"], email=row["email"], name=row["name"], role=Role.employee)


async def _round(url: str, settings: Settings, *, tickets_n: int, latency_ms: float, concurrency: int) -> dict:
    added: dict[str, float] = {}  # ticket name → when the fake added it (wall clock)
    glpi = FakeGlpiServer()
    glpi.fake.echo = lambda line: added.setdefault(line.split(": ", 1)[-1], time.time()) if " added: " in line \
        and "follow-up" not in line else None
    glpi.start()
    name = f"bench-{int(latency_ms)}ms"
    async with await psycopg.AsyncConnection.connect(url, autocommit=True, row_factory=dict_row) as conn:
        await conn.execute("UPDATE sync_connectors SET enabled = false")
        system = await connectors.principal(conn)
        connector, _ = await connectors.create(conn, settings=settings, actor_id=system.id, data=ConnectorIn(
            name=name, base_url=glpi.url, user_token=SecretStr(glpi.fake.user_token),
            app_token=SecretStr(glpi.fake.app_token or "")))
        employee = await _employee(conn)
        _say(f"{name}: creating {tickets_n} tickets")
        ids: dict[str, int] = {}
        for i in range(tickets_n):
            title = f"Sync bench {latency_ms:g} ms #{i}: VPN drops"
            ticket, _ = await tickets.create(conn, principal=employee, data=TicketCreate(title=title))
            ids[title] = ticket.id
        _say(f"{name}: triage (it records the tickets' events in the sync outbox)")
        started = time.perf_counter()
        await worker.run(settings, queues=["triage"], concurrency=2, wait=False)
        triage_s = time.perf_counter() - started
        queued = {r["ticket_id"]: r["at"] for r in await (await conn.execute(
            "SELECT ticket_id, min(created_at) AS at FROM sync_outbox WHERE connector_id = %s GROUP BY ticket_id",
            (connector.id,))).fetchall()}
        glpi.fake.latency_s = latency_ms / 1000
        busy, requests = glpi.fake.busy_s, len(glpi.fake.requests)
        _say(f"{name}: pushing them (worker concurrency {concurrency})")
        started, pushing = time.perf_counter(), time.time()
        await worker.run(settings, queues=["sync"], concurrency=concurrency, wait=False)
        out_s = time.perf_counter() - started
        out_busy, out_requests = glpi.fake.busy_s - busy, len(glpi.fake.requests) - requests
        linked = (await (await conn.execute("SELECT count(*) AS n FROM sync_links WHERE connector_id = %s",
                                            (connector.id,))).fetchone() or {"n": 0})["n"]
        outbound = {"tickets": tickets_n, "in_glpi": len(glpi.fake.tickets), "linked": linked,
                    "seconds": round(out_s, 2), "tickets_per_s": round(tickets_n / out_s, 1),
                    "requests_per_ticket": round(out_requests / tickets_n, 2),
                    "outbox_items": (await (await conn.execute("SELECT count(*) AS n FROM sync_outbox WHERE connector_id = %s",
                                                                (connector.id,))).fetchone() or {"n": 0})["n"],
                    "lag": _lags([added[t] - max(queued[i].timestamp(), pushing) for t, i in ids.items()
                                  if t in added and i in queued]),
                    "time_share": _share(out_busy, out_s, concurrency)}

        await engine.poll(conn, connector_id=connector.id, settings=settings)  # the cursor, before the changes
        _say(f"{name}: {len(glpi.fake.tickets)} follow-ups in GLPI, one poll")
        followed: dict[str, float] = {}
        for remote_id in list(glpi.fake.tickets):
            text = f"bench follow-up on {remote_id}"
            glpi.fake.add_followup(remote_id, text)
            followed[text] = time.time()
        busy, requests = glpi.fake.busy_s, len(glpi.fake.requests)
        started = time.perf_counter()
        polled = await engine.poll(conn, connector_id=connector.id, settings=settings)
        in_s = time.perf_counter() - started
        in_busy, in_requests = glpi.fake.busy_s - busy, len(glpi.fake.requests) - requests
        rows = await (await conn.execute(
            "SELECT c.body, c.created_at FROM ticket_comments c JOIN sync_links l ON l.ticket_id = c.ticket_id "
            "WHERE l.connector_id = %s", (connector.id,))).fetchall()
        inbound = {"changes": len(followed), "comments": polled.comments, "pulled": polled.pulled,
                   "error": polled.error, "seconds": round(in_s, 2), "tickets_per_s": round(polled.pulled / in_s, 1),
                   "requests_per_ticket": round(in_requests / max(polled.pulled, 1), 2),
                   "lag": _lags([r["created_at"].timestamp() - followed[r["body"]] for r in rows
                                 if r["body"] in followed]),
                   "time_share": _share(in_busy, in_s, 1)}
        # the comments' events go through triage and are not echoed to GLPI (before the next connector exists)
        await worker.run(settings, queues=["triage", "sync"], concurrency=2, wait=False)
        echoed = len(glpi.fake.followups) - len(followed)
        inbound["echoed_back"] = echoed
    glpi.stop()
    return {"latency_ms": latency_ms, "triage_s": round(triage_s, 1), "outbound": outbound, "inbound": inbound}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tickets", type=int, default=1000, help="tickets pushed, and external changes pulled")
    parser.add_argument("--latency-ms", type=float, default=20.0, help="the fake GLPI's simulated latency")
    parser.add_argument("--concurrency", type=int, default=1, help="sync jobs the worker runs at once")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with bench_database("deskmate_bench_sync") as url:
        settings = Settings(env="test", database_url=url, data_dir=BENCH_DATA_DIR, log_level="WARNING",
                            outbound=OutboundSettings(allow_private=True), _env_file=None)  # type: ignore[call-arg]
        rounds = [asyncio.run(_round(url, settings, tickets_n=args.tickets, latency_ms=latency,
                                     concurrency=args.concurrency)) for latency in (0.0, args.latency_ms)]
    report = {
        "benchmark": "sync",
        "baseline_0ms": rounds[0],
        f"glpi_{args.latency_ms:g}ms": rounds[1],
        "worker_concurrency": args.concurrency,
        "setup": "fake GLPI legacy API (api/dev/fake_glpi.py, threaded, 127.0.0.1) with a sleep per answer; "
                 "ticket service and burst worker in-process; one poll for the inbound changes (page size "
                 f"{settings.sync.page_size}); embedded PostgreSQL over a unix socket",
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
