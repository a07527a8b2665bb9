"""What the metrics and trace-id middleware (api/observability) costs per request, measured side by side.

    .venv/bin/python bench/observability.py [--requests 20000] [--rounds 5]

Two ASGI stacks answer the same in-process requests, alternating round by round so both see the same machine
load: the real app's routing (an included router with a prefix and a path parameter, like /api/v1/tickets/{ref})
with ``Observe`` in front, and the same without it. Prints one JSON object: microseconds per request of each,
the overhead, and a scrape's size and time after the run. Progress on stderr. No database is needed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from fastapi import APIRouter, FastAPI  # noqa: E402

from api.observability import metrics  # noqa: E402
from api.observability.middleware import Observe  # noqa: E402


def _app(observed: bool) -> FastAPI:
    app = FastAPI()
    tickets = APIRouter(prefix="/tickets")

    @tickets.get("/{ref}")
    async def one(ref: str) -> dict[str, str]:
        return {"ref": ref}

    v1 = APIRouter(prefix="/api/v1")
    v1.include_router(tickets)
    app.include_router(v1)
    if observed:
        app.add_middleware(Observe)
    return app


async def _round(app: FastAPI, n: int) -> float:
    """Seconds per request for ``n`` requests straight into the ASGI app (no network, no client library)."""
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    started = time.perf_counter()
    for i in range(n):
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
                 "path": f"/api/v1/tickets/INC-{i:06d}", "raw_path": f"/api/v1/tickets/INC-{i:06d}".encode(),
                 "root_path": "", "query_string": b"", "headers": [(b"host", b"bench")], "server": ("bench", 80),
                 "client": ("127.0.0.1", 1), "state": {}}
        await app(scope, receive, send)
    elapsed = time.perf_counter() - started
    assert sum(1 for m in sent if m["type"] == "http.response.start" and m["status"] == 200) == n
    return elapsed / n


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if args.requests < 100 or args.rounds < 1:
        parser.error("--requests must be at least 100 and --rounds at least 1")
    bare, observed = _app(False), _app(True)
    await _round(bare, 200), await _round(observed, 200)  # warm-up: routing caches, first-label creation
    times: dict[str, list[float]] = {"bare": [], "observed": []}
    for r in range(args.rounds):
        for name, app in (("bare", bare), ("observed", observed)) if r % 2 == 0 else (("observed", observed),
                                                                                       ("bare", bare)):
            times[name].append(await _round(app, args.requests))
        print(f"round {r + 1}/{args.rounds}: bare {times['bare'][-1] * 1e6:.1f} µs, "
              f"observed {times['observed'][-1] * 1e6:.1f} µs", file=sys.stderr)
    started = time.perf_counter()
    text = metrics.exposition()
    scrape_ms = (time.perf_counter() - started) * 1000
    bare_us, observed_us = (statistics.median(times[k]) * 1e6 for k in ("bare", "observed"))
    print(json.dumps({
        "bench": "observability", "requests_per_round": args.requests, "rounds": args.rounds,
        "baseline_us_per_request": round(bare_us, 2), "observed_us_per_request": round(observed_us, 2),
        "overhead_us_per_request": round(observed_us - bare_us, 2), "ratio": round(observed_us / bare_us, 3),
        "scrape_ms": round(scrape_ms, 2), "scrape_bytes": len(text),
        "machine": {"cpus": os.cpu_count(), "load_1m": round(os.getloadavg()[0], 2), "python": platform.python_version()},
        "note": "median of alternating rounds in one process; the machine is shared, so compare the ratio",
    }))


if __name__ == "__main__":
    asyncio.run(main())
