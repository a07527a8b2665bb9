"""Shared benchmark plumbing: an embedded database of its own, a real api process, latency stats."""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg
from psycopg.rows import dict_row

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from api import migrate
from api.auth import service as people
from api.auth.models import Role
from api.dev import demo, embedded_pg, stack

BENCH_DATA_DIR = REPO_ROOT / "var" / "bench"


@contextmanager
def bench_database(name: str, *, keep: bool = False) -> Iterator[str]:
    """A fresh, migrated database with the demo org on the embedded server; dropped afterwards.

    ``keep``: an existing one is used as it is, and kept afterwards (a big load is made once).
    """
    server, _ = embedded_pg.start(BENCH_DATA_DIR)
    admin_url = server.get_uri()
    url = admin_url.replace("/postgres?", f"/{name}?")
    if keep and embedded_pg.database_exists(admin_url, name):
        migrate.migrate(url, REPO_ROOT / "migrations")  # a database kept from an older version
        yield url
        return
    embedded_pg.drop_database(admin_url, name)
    embedded_pg.ensure_database(admin_url, name)
    migrate.migrate(url, REPO_ROOT / "migrations")

    async def seed() -> None:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True, row_factory=dict_row) as conn:
            await demo.seed(conn, path=REPO_ROOT / "data" / "demo" / "org.yml", tokens_file=BENCH_DATA_DIR / "t.env")

    asyncio.run(seed())
    try:
        yield url
    finally:
        if not keep:
            embedded_pg.drop_database(admin_url, name)


def token_for(url: str, role: Role) -> str:
    async def make() -> str:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True, row_factory=dict_row) as conn:
            created = await people.ensure_user_with_token(conn, email=f"bench-{role}@example.com", role=role)
            return created.token

    return asyncio.run(make())


@contextmanager
def api_process(url: str, port: int, *, ready_timeout_s: float = 60, **env: str) -> Iterator[str]:
    """``deskmate serve`` (one uvicorn worker) on ``port``, ready when this yields."""
    proc_env = {**os.environ, "DATABASE_URL": url, "DESKMATE_PORT": str(port),
                "DESKMATE_LOG_LEVEL": os.environ.get("DESKMATE_LOG_LEVEL", "WARNING"),  # INFO to see each request
                "DESKMATE_DB_POOL_MAX": "20", **env}
    proc = subprocess.Popen([sys.executable, "-m", "api.cli", "serve"], env=proc_env, cwd=REPO_ROOT)
    base = f"http://127.0.0.1:{port}"
    stack.wait_until_ready(f"{base}/readyz", proc, timeout_s=ready_timeout_s, what="the api")
    try:
        yield base
    finally:
        proc.terminate()
        proc.wait(10)


def percentiles(ms: list[float]) -> list[float]:
    """The 1st…99th percentiles, within the samples ("inclusive": a few samples' p95 is never above their max)."""
    return statistics.quantiles(ms, n=100, method="inclusive") if len(ms) > 1 else ms * 99


def summary(latencies: list[float], elapsed: float) -> dict[str, float]:
    ms = sorted(x * 1000 for x in latencies)
    q = percentiles(ms)
    return {"requests": len(ms), "per_s": round(len(ms) / elapsed, 1), "p50_ms": round(q[49], 2),
            "p95_ms": round(q[94], 2), "p99_ms": round(q[98], 2), "max_ms": round(ms[-1], 2)}


async def run_clients(clients: int, per_client: int, call: Callable[[httpx.AsyncClient, int, int], Awaitable[None]],
                      base: str, headers: dict[str, str]) -> dict[str, float]:
    """``clients`` concurrent connections each making ``per_client`` calls; returns latency stats."""
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async def one(client_no: int, http: httpx.AsyncClient) -> None:
        for i in range(per_client):
            started = time.perf_counter()
            await call(http, client_no, i)
            latencies.append(time.perf_counter() - started)

    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=30) as http:
        started = time.perf_counter()
        await asyncio.gather(*(one(c, http) for c in range(clients)))
        elapsed = time.perf_counter() - started
    return summary(latencies, elapsed)
