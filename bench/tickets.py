"""Ticket API throughput and latency: N concurrent clients creating tickets over HTTP, then GET by id.

Runs a real `deskmate serve` (one uvicorn worker) on the embedded PostgreSQL, in a database of its
own. Prints one JSON object. The GET run is the baseline the create run compares against.

    .venv/bin/python bench/tickets.py [--clients 8] [--requests 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import uuid

import httpx
from _server import api_process, bench_database, run_clients, token_for

from api.auth.models import Role


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients")
    parser.add_argument("--requests", type=int, default=200, help="requests per client and phase")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()

    with bench_database("deskmate_bench_tickets") as url:
        token = token_for(url, Role.agent)
        with api_process(url, args.port) as base:
            headers = {"Authorization": f"Bearer {token}"}
            created: list[int] = []

            async def create(http: httpx.AsyncClient, c: int, i: int) -> None:
                body = {"title": f"Printer on floor {c} jams ({i})", "description": "Paper jam in tray 2, "
                        "error 13.A2.D3 after every few pages", "urgency": 1 + i % 3, "impact": 1 + c % 3}
                r = await http.post("/api/v1/tickets", json=body, headers={"Idempotency-Key": uuid.uuid4().hex})
                r.raise_for_status()
                created.append(r.json()["id"])

            async def get(http: httpx.AsyncClient, c: int, i: int) -> None:
                r = await http.get(f"/api/v1/tickets/{created[(c * args.requests + i) % len(created)]}")
                r.raise_for_status()

            async def go() -> dict[str, object]:
                await run_clients(4, 10, get_warm, base, headers)
                creates = await run_clients(args.clients, args.requests, create, base, headers)
                gets = await run_clients(args.clients, args.requests, get, base, headers)
                return {"create": creates, "get_by_id": gets}

            async def get_warm(http: httpx.AsyncClient, c: int, i: int) -> None:
                (await http.get("/api/v1/me")).raise_for_status()

            results = asyncio.run(go())
    report = {
        "benchmark": "tickets", "clients": args.clients, "requests_per_client": args.requests,
        "server": "deskmate serve, 1 uvicorn worker, embedded PostgreSQL 18 over a unix socket",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        **results,
        "create_vs_get_p95_ratio": round(results["create"]["p95_ms"] / results["get_by_id"]["p95_ms"], 2),  # type: ignore[index]
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
