"""Triage throughput and the cost of triage on ticket creation.

In a database of its own on the embedded PostgreSQL (demo org, calendars, rules), it measures:

1. create_sync: POST /tickets latency from concurrent clients against two `deskmate serve` processes,
   one with DESKMATE_TRIAGE_ENABLED=false and one with it on (the only synchronous triage work is
   queueing a job in the ticket's transaction), in alternating rounds so both see the same database.
2. triage: tickets/s through classify → route → assign → SLA → alert jobs queued, by an in-process
   worker (burst mode, model already loaded) over the tickets the triage-on rounds created.
3. alert_deliveries: signed webhook deliveries/s from the worker to a local receiver (one per ticket).

Prints one JSON object.

    .venv/bin/python bench/triage.py [--clients 8] [--requests 25] [--rounds 2] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import random
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import psycopg
from _server import BENCH_DATA_DIR, api_process, bench_database, run_clients, token_for
from psycopg.rows import dict_row

from api.alerts import service as alerts
from api.alerts.models import AlertRuleIn
from api.auth.models import Role
from api.integrations.outbound import OutboundSettings
from api.jobs import worker
from api.kb.embedding import get_embedder
from api.settings import Settings

TEXTS = [
    ("VPN drops every few minutes", "GlobalProtect disconnects when I work from home"),
    ("Printer on floor {n} jams", "Paper jam in tray 2 after every few pages"),
    ("Outlook does not sync my calendar", "Meeting invitations are missing since this morning"),
    ("Laptop very slow", "It takes ten minutes to boot and the fan is loud"),
    ("Locked out of my account", "Too many password attempts, cannot sign in"),
    ("Need access to the Finance share", "Please add me to the finance reporting folder"),
    ("Install Visio please", "I need Visio for process diagrams"),
    ("Second monitor not detected", "The docking station does not see my Dell screen"),
    ("Suspicious e-mail received", "Someone asks for my bank details, looks like phishing"),
    ("New starter on Monday", "Laptop and accounts needed for our new colleague in Sales"),
]


class _Receiver(BaseHTTPRequestHandler):
    accepted: set[str] = set()
    lock = threading.Lock()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with self.lock:
            self.accepted.add(self.headers.get("X-Deskmate-Delivery", ""))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()


async def _count(url: str, query: str) -> int:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True, row_factory=dict_row) as conn:
        row = await (await conn.execute(query)).fetchone()
        return int(row["n"]) if row else 0


async def _prepare(url: str, settings: Settings, hook_url: str) -> None:
    """Only in-app and the bench's webhook rule alert (no SMTP or Twilio here)."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True, row_factory=dict_row) as conn:
        await conn.execute("UPDATE alert_rules SET enabled = false WHERE channels::text ~ '\"(EMAIL|SMS)\"'")
        await alerts.create_rule(conn, settings=settings, actor_id=None, data=AlertRuleIn(
            name="bench webhook", events=["created"], channels=[{"channel": "WEBHOOK", "url": hook_url}]))


def _body(c: int, i: int) -> dict[str, Any]:
    title, description = random.Random(c * 1000 + i).choice(TEXTS)
    return {"title": title.format(n=c % 5 + 1) + f" ({c}.{i})", "description": description, "urgency": 3, "impact": 3}


async def _create_rounds(bases: dict[str, str], token: str, clients: int, per_client: int, rounds: int) -> dict:
    headers = {"Authorization": f"Bearer {token}"}

    async def create(http: httpx.AsyncClient, c: int, i: int) -> None:
        r = await http.post("/api/v1/tickets", json=_body(c, i), headers={"Idempotency-Key": uuid.uuid4().hex})
        r.raise_for_status()

    for base in bases.values():  # warm both servers (connections, prepared pools)
        await run_clients(2, 5, create, base, headers)
    results: dict[str, list[dict[str, float]]] = {"triage_off": [], "triage_on": []}
    for _ in range(rounds):
        for mode, base in bases.items():
            results[mode].append(await run_clients(clients, per_client, create, base, headers))
    return {mode: _merge(rs) for mode, rs in results.items()}


def _merge(runs: list[dict[str, float]]) -> dict[str, float]:
    """Rounds combined: requests summed, rates and percentiles averaged over the rounds."""
    out = {"requests": sum(r["requests"] for r in runs)}
    for key in ("per_s", "p50_ms", "p95_ms", "p99_ms"):
        out[key] = round(sum(r[key] for r in runs) / len(runs), 2)
    out["max_ms"] = max(r["max_ms"] for r in runs)
    return out


async def _triage(url: str, settings: Settings, concurrency: int) -> dict[str, Any]:
    await asyncio.to_thread(get_embedder(settings).embed, ["warm the model up"])
    pending = await _count(url, "SELECT count(DISTINCT args->>'ticket_id') AS n FROM procrastinate_jobs "
                                "WHERE queue_name = 'triage' AND status = 'todo'")
    started = time.perf_counter()
    await worker.run(settings, queues=["triage"], concurrency=concurrency, wait=False)
    elapsed = time.perf_counter() - started
    decided = await _count(url, "SELECT count(DISTINCT ticket_id) AS n FROM routing_decisions")
    assigned = await _count(url, "SELECT count(*) AS n FROM tickets WHERE assignee_id IS NOT NULL")
    queued = await _count(url, "SELECT count(*) AS n FROM procrastinate_jobs WHERE queue_name = 'alerts' AND status = 'todo'")
    return {"tickets": pending, "seconds": round(elapsed, 2), "tickets_per_s": round(pending / elapsed, 1),
            "routed": decided, "assigned_to_an_agent": assigned, "alert_jobs_enqueued": queued,
            "worker_concurrency": concurrency}


async def _deliveries(url: str, settings: Settings, concurrency: int) -> dict[str, Any]:
    queued = await _count(url, "SELECT count(*) AS n FROM procrastinate_jobs WHERE queue_name = 'alerts' AND status = 'todo'")
    started = time.perf_counter()
    await worker.run(settings, queues=["alerts"], concurrency=concurrency, wait=False)
    elapsed = time.perf_counter() - started
    sent = await _count(url, "SELECT count(*) AS n FROM alert_deliveries WHERE channel = 'WEBHOOK' AND status = 'sent'")
    return {"deliveries": queued, "sent": sent, "receiver_accepted": len(_Receiver.accepted),
            "seconds": round(elapsed, 2), "per_s": round(sent / elapsed, 1), "worker_concurrency": concurrency}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients creating tickets")
    parser.add_argument("--requests", type=int, default=25, help="tickets per client, round and mode")
    parser.add_argument("--rounds", type=int, default=2, help="alternating off/on rounds")
    parser.add_argument("--concurrency", type=int, default=4, help="jobs the worker runs at once")
    parser.add_argument("--port", type=int, default=8771)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    receiver = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    hook_url = f"http://127.0.0.1:{receiver.server_address[1]}/hook"

    with bench_database("deskmate_bench_triage") as url:
        settings = Settings(env="test", database_url=url, data_dir=BENCH_DATA_DIR,
                            outbound=OutboundSettings(allow_private=True),
                            alerts_backoff_base_s=0, log_level="WARNING", _env_file=None)  # type: ignore[call-arg]
        asyncio.run(_prepare(url, settings, hook_url))
        token = token_for(url, Role.employee)
        with api_process(url, args.port, DESKMATE_TRIAGE_ENABLED="false") as off, \
                api_process(url, args.port + 1, DESKMATE_TRIAGE_ENABLED="true") as on:
            create = asyncio.run(_create_rounds({"triage_off": off, "triage_on": on}, token, args.clients,
                                                args.requests, args.rounds))
        triage = asyncio.run(_triage(url, settings, args.concurrency))
        deliveries = asyncio.run(_deliveries(url, settings, args.concurrency))
    receiver.shutdown()
    report = {
        "benchmark": "triage",
        "create_sync": create | {"p95_overhead_ms": round(create["triage_on"]["p95_ms"] - create["triage_off"]["p95_ms"], 2),
                                 "clients": args.clients, "rounds": args.rounds},
        "triage": triage,
        "alert_deliveries": deliveries,
        "setup": "deskmate serve (1 uvicorn worker each) + in-process burst worker, embedded PostgreSQL 18 over a "
                 "unix socket, all-MiniLM-L6-v2 on CPU, webhook receiver on 127.0.0.1",
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
