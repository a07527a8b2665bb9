"""Account-unlock workflow runs end to end, against the same directory operations called directly.

    .venv/bin/python bench/workflows.py                          # 1, 8 and 32 concurrent runs
    .venv/bin/python bench/workflows.py --levels 1,8 --runs 16   # a quick look

What runs, all of it real: the embedded PostgreSQL (a database of its own, dropped afterwards), Debian's
slapd with the ppolicy overlay (seeded with one account per run, under a temporary directory), the engine
(``api.workflows.engine.start`` from this process, ``deskmate worker``'s loop in a child process on the
``workflows`` queue) and the built-in ``account_unlock`` definition: normalise the username, find the user,
condition, step-up, unlock, verify (re-read), resolve the ticket.

**Step-up is auto-answered.** The worker installs a runtime (``api.workflows.runtime.install``) with the real
LDAP connector and a step-up check that answers ``passed`` at once: no code is sent or typed, so the figures
are the engine's and the directory's, not a person's. Everything else is ``runtime.default``'s behaviour.

**Every account is locked before it is unlocked.** Before each phase the service account sets
``pwdAccountLockedTime`` on the accounts that phase will use (outside the timing), and the connector reads them
back as locked; each run and each baseline round uses an account of its own, so unlock really changes it.

At each level N (concurrent runs) two phases run with the same accounts count and the same connector settings
(``DESKMATE_LDAP_POOL_SIZE`` default, 4 connections):

- ``baseline``: N clients each doing, per round, what the workflow's directory steps do, on the connector
  directly: ``find_user``, ``unlock``, ``get_user`` (and check it reads unlocked);
- ``engine``: N clients each starting a run and waiting until it is over (a poller reads the runs' status
  every 5 ms); the worker runs N jobs at once (``--concurrency`` = N).

Reported per phase: runs/s (wall clock), p50/p95 of a whole run (wall clock, from the start call until the
poller sees it finished), and per step: for the engine, the step's own time as its step history records it
(``workflow_steps.started_at`` → ``finished_at``) and the wait before it (the previous step's recorded finish,
or the run's creation, → its start: job pickup); for the baseline, each call. ``overhead`` divides the engine's
figures by the baseline's. ``one_run_default_worker_concurrency``: 16 runs one at a time on a worker with the
default DESKMATE_WORKER_CONCURRENCY (4): job pickup with idle slots (docs/workflows.md#performance). Prints one
JSON object.

Note on the recorded step times: they are ``clock_timestamp()`` when a step is claimed and when it is recorded,
so a step that only touches Postgres (code, condition, ticket), executed inside the recording transaction, shows
its own time (before the change to ``clock_timestamp()`` it showed about 0 and its time fell into the next
step's wait); the whole-run figures are wall clock and include everything.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from _server import BENCH_DATA_DIR, REPO_ROOT, bench_database, percentiles
from ldap3 import MODIFY_REPLACE, Connection, Server
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool
from pydantic import SecretStr

from api.dev import directory as slapd_process
from api.integrations.ldap import slapd
from api.integrations.ldap.client import LdapDirectory
from api.integrations.ldap.settings import LdapSettings
from api.settings import Settings
from api.workflows import catalog, engine
from api.workflows import runtime as runtimes

WORKFLOW = "account_unlock"
LAYOUT = slapd.Layout("dc=bench,dc=test")
SERVICE = "deskmate"
LOCKED_AT = "20250101000000Z"
POLL_S = 0.005
STARTERS = 8
IDLE_RUNS = 16  # runs of the default-concurrency check (each takes seconds: job pickup waits for the poll)
RUN_TIMEOUT_S = 120.0
ENGINE_STEPS = ("username", "find", "known", "step_up", "unlock", "verify", "resolve")
BASELINE_CALLS = ("find_user", "unlock", "get_user")


# ---------- the directory ----------

@contextmanager
def bench_slapd(accounts: int) -> Iterator[dict[str, str]]:
    """A slapd seeded with ``accounts`` people (bench00000…) and the service account; yields DESKMATE_LDAP_* env."""
    base = Path(tempfile.mkdtemp(prefix="deskmate-bench-slapd-"))
    password = secrets.token_urlsafe(16)
    people = [slapd.Person(uid(i), f"Bench Person{i}", f"{uid(i)}@bench.test", password=f"pw-{i}")
              for i in range(accounts)]
    ldif = slapd.ldif(LAYOUT, people=people, groups=[slapd.Group("staff", (uid(0),))], services={SERVICE: password})
    (base / "db").mkdir()
    conf = base / "slapd.conf"
    conf.write_text(slapd.slapd_conf(LAYOUT, db_dir=base / "db", pid_file=base / "slapd.pid",
                                     admin_password=secrets.token_urlsafe(16), writers=[LAYOUT.service(SERVICE)]))
    slapd_process.seed(conf, ldif)
    port = _free_port()
    url = f"ldap://127.0.0.1:{port}"
    pid = slapd_process.start_slapd(conf, urls=[url], ports=[port], pid_file=base / "slapd.pid")
    try:
        yield {"DESKMATE_LDAP_URL": url, "DESKMATE_LDAP_BIND_DN": LAYOUT.service(SERVICE),
               "DESKMATE_LDAP_BIND_PASSWORD": password, "DESKMATE_LDAP_USERS_BASE": LAYOUT.people,
               "DESKMATE_LDAP_GROUPS_BASE": LAYOUT.groups, "DESKMATE_LDAP_PPOLICY_DN": LAYOUT.policy,
               "DESKMATE_LDAP_FLAVOR": "openldap"}
    finally:
        slapd_process.stop_slapd(pid)
        shutil.rmtree(base, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def uid(i: int) -> str:
    return f"bench{i:05d}"


def lock(env: dict[str, str], uids: list[str]) -> None:
    """Locks the accounts as the service account does (``pwdAccountLockedTime``), outside the timing."""
    conn = Connection(Server(env["DESKMATE_LDAP_URL"]), user=env["DESKMATE_LDAP_BIND_DN"],
                      password=env["DESKMATE_LDAP_BIND_PASSWORD"], auto_bind=True, raise_exceptions=True)
    try:
        for u in uids:
            conn.modify(LAYOUT.person(u), {"pwdAccountLockedTime": [(MODIFY_REPLACE, [LOCKED_AT])]})
    finally:
        conn.unbind()


def ldap_settings(env: dict[str, str]) -> LdapSettings:
    return LdapSettings(url=env["DESKMATE_LDAP_URL"], bind_dn=env["DESKMATE_LDAP_BIND_DN"],
                        users_base=env["DESKMATE_LDAP_USERS_BASE"], groups_base=env["DESKMATE_LDAP_GROUPS_BASE"],
                        ppolicy_dn=env["DESKMATE_LDAP_PPOLICY_DN"], _env_file=None)  # type: ignore[call-arg]


# ---------- the worker (a child process) ----------

async def _step_up_passes(_: Any, __: runtimes.StepUpRequest) -> runtimes.StepUpAnswer:
    """The benchmark's step-up check: every requester has just passed (nobody types a code here)."""
    return "passed"


def serve_worker(concurrency: int) -> None:
    """``deskmate worker`` on the workflows queue, with the LDAP connector and the auto-passing step-up check."""
    from api.integrations.ldap import connect
    from api.jobs import worker

    logging.basicConfig(level=logging.WARNING)
    settings = Settings()
    runtimes.install(runtimes.Runtime(directory=connect.directory(settings), step_up=_step_up_passes))
    asyncio.run(worker.run(settings, queues=[engine.QUEUE], concurrency=concurrency))


@contextmanager
def worker_process(url: str, env: dict[str, str], concurrency: int) -> Iterator[None]:
    proc_env = {**os.environ, **env, "DATABASE_URL": url, "DESKMATE_LOG_LEVEL": "WARNING",
                "DESKMATE_DATA_DIR": str(BENCH_DATA_DIR), "DESKMATE_AUTO_MIGRATE": "false"}
    proc = subprocess.Popen([sys.executable, __file__, "--serve-worker", str(concurrency)], env=proc_env,
                            cwd=REPO_ROOT)
    try:
        yield
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


# ---------- measuring ----------

def stats(seconds: list[float]) -> dict[str, float]:
    ms = sorted(x * 1000 for x in seconds)
    if len(ms) < 2:
        return {"n": len(ms), "p50_ms": round(ms[0], 2) if ms else 0.0, "p95_ms": round(ms[0], 2) if ms else 0.0}
    q = percentiles(ms)
    return {"n": len(ms), "p50_ms": round(q[49], 2), "p95_ms": round(q[94], 2)}


async def baseline(env: dict[str, str], level: int, uids: list[str]) -> dict[str, Any]:
    """``level`` clients doing find_user → unlock → get_user on the connector, one account per round."""
    ldap = LdapDirectory(ldap_settings(env), bind_password=SecretStr(env["DESKMATE_LDAP_BIND_PASSWORD"]))
    calls: dict[str, list[float]] = defaultdict(list)
    rounds: list[float] = []
    todo = list(uids)

    async def client() -> None:
        while todo:
            username = todo.pop()
            started = time.perf_counter()
            t = time.perf_counter()
            user = await ldap.find_user(username=username)
            calls["find_user"].append(time.perf_counter() - t)
            assert user is not None and user.locked, f"{username} should be there and locked"
            t = time.perf_counter()
            await ldap.unlock(user, idempotency_key=f"bench-{username}")
            calls["unlock"].append(time.perf_counter() - t)
            t = time.perf_counter()
            after = await ldap.get_user(user.dn)
            calls["get_user"].append(time.perf_counter() - t)
            assert not after.locked, f"{username} still reads locked"
            rounds.append(time.perf_counter() - started)

    try:
        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(level)))
        elapsed = time.perf_counter() - started
    finally:
        await ldap.aclose()
    return {"runs": len(rounds), "runs_per_s": round(len(rounds) / elapsed, 2), "run": stats(rounds),
            "steps": {name: stats(calls[name]) for name in BASELINE_CALLS}}


async def engine_runs(url: str, level: int, uids: list[str], requester_id: int) -> tuple[list[int], list[float], float]:
    """``level`` clients each starting a run and waiting for its end; (run ids, wall latencies, elapsed)."""
    pending: dict[int, asyncio.Future[str]] = {}
    todo = list(uids)
    ids: list[int] = []
    latencies: list[float] = []
    loop = asyncio.get_running_loop()

    async def poll(conn: psycopg.AsyncConnection[Any]) -> None:
        while True:
            if pending:
                rows = await (await conn.execute("SELECT id, status FROM workflow_runs WHERE id = ANY(%s) "
                                                 "AND status <> 'running'", (list(pending),))).fetchall()
                for row in rows:
                    pending.pop(row["id"]).set_result(row["status"])
            await asyncio.sleep(POLL_S)

    async def client() -> None:
        while todo:
            username = todo.pop()
            started = time.perf_counter()
            async with starters.connection() as conn:
                run_id = await engine.start(conn, name=WORKFLOW, inputs={"username": username},
                                            requester_id=requester_id)
            done = loop.create_future()
            pending[run_id] = done
            status = await asyncio.wait_for(done, RUN_TIMEOUT_S)
            latencies.append(time.perf_counter() - started)
            ids.append(run_id)
            if status != "succeeded":
                raise RuntimeError(f"run {run_id} ({username}) ended {status}")

    # at most STARTERS connections start runs: the worker's pools (2 × (concurrency + 2)) fit under the
    # server's 100 connections at 32
    starters: AsyncConnectionPool[Any] = AsyncConnectionPool(url, min_size=1, max_size=min(level, STARTERS), open=False,
                                   kwargs={"autocommit": True, "row_factory": dict_row})
    await starters.open(wait=True)
    watcher = await psycopg.AsyncConnection.connect(url, autocommit=True, row_factory=dict_row)
    poller = asyncio.create_task(poll(watcher))
    try:
        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(level)))
        elapsed = time.perf_counter() - started
    finally:
        poller.cancel()
        await watcher.close()
        await starters.close()
    return ids, latencies, elapsed


async def engine_steps(url: str, ids: list[int]) -> dict[str, Any]:
    """Per step, from the runs' step history: its recorded time, and the wait before it (job pickup)."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True, row_factory=dict_row) as conn:
        rows = await (await conn.execute(
            "SELECT s.run_id, s.step_id, s.started_at, s.finished_at, s.attempts, r.created_at, r.verified "
            "FROM workflow_steps s JOIN workflow_runs r ON r.id = s.run_id "
            "WHERE s.run_id = ANY(%s) AND s.phase = 'do' ORDER BY s.run_id, s.id", (ids,))).fetchall()
    took: dict[str, list[float]] = defaultdict(list)
    waited: dict[str, list[float]] = defaultdict(list)
    previous: dict[int, Any] = {}
    unverified = {r["run_id"] for r in rows if r["verified"] is not True}
    retried = sum(r["attempts"] > 1 for r in rows)
    for r in rows:
        took[r["step_id"]].append((r["finished_at"] - r["started_at"]).total_seconds())
        waited[r["step_id"]].append((r["started_at"] - previous.get(r["run_id"], r["created_at"])).total_seconds())
        previous[r["run_id"]] = r["finished_at"]
    steps = {s: {"step": stats(took[s]), "wait_before": stats(waited[s])} for s in ENGINE_STEPS}
    return {"steps": steps, "unverified_runs": len(unverified), "retried_steps": retried,
            "wait_share": round(sum(map(sum, waited.values())) / (sum(map(sum, waited.values()))
                                                                   + sum(map(sum, took.values()))), 3)}


async def engine_phase(url: str, env: dict[str, str], level: int, uids: list[str], warm: list[str],
                       requester_id: int, concurrency: int) -> dict[str, Any]:
    with worker_process(url, env, concurrency):
        await engine_runs(url, min(level, len(warm)), warm, requester_id)  # the worker is up, its pools warm
        ids, latencies, elapsed = await engine_runs(url, level, uids, requester_id)
    return {"runs": len(ids), "runs_per_s": round(len(ids) / elapsed, 2), "run": stats(latencies),
            **await engine_steps(url, ids), "worker_concurrency": concurrency}


async def prepare(url: str) -> int:
    """The built-in definitions stored; returns the requester (a demo employee)."""
    settings = Settings(env="test", data_dir=BENCH_DATA_DIR, _env_file=None)  # type: ignore[call-arg]
    async with await psycopg.AsyncConnection.connect(url, autocommit=True, row_factory=dict_row) as conn:
        await catalog.sync(conn, [w.workflow for w in catalog.load_dir(settings.workflows_dir)])
        row = await (await conn.execute("SELECT id FROM users WHERE role = 'employee' ORDER BY id LIMIT 1")).fetchone()
    assert row is not None, "the demo organisation has no employee"
    return int(row["id"])


def ratio(a: float, b: float) -> float:
    return round(a / b, 2) if b else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--levels", default="1,8,32", help="concurrent runs, comma-separated")
    parser.add_argument("--runs", type=int, default=96, help="measured runs per level and phase")
    parser.add_argument("--worker-concurrency", type=int, help="jobs the worker runs at once (default: the level)")
    parser.add_argument("--serve-worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_worker:
        serve_worker(args.serve_worker)
        return
    logging.basicConfig(level=logging.WARNING)
    levels = [int(x) for x in args.levels.split(",")]
    warm = max(levels)
    per_level = 2 * args.runs + warm  # baseline + engine + the engine's warm-up
    idle_runs = min(args.runs, IDLE_RUNS)
    results: dict[str, Any] = {}
    with bench_database("deskmate_bench_workflows") as url, \
            bench_slapd(per_level * len(levels) + idle_runs + 1) as env:
        requester_id = asyncio.run(prepare(url))
        for n, level in enumerate(levels):
            first = n * per_level
            base_uids = [uid(first + i) for i in range(args.runs)]
            engine_uids = [uid(first + args.runs + i) for i in range(args.runs)]
            warm_uids = [uid(first + 2 * args.runs + i) for i in range(warm)]
            lock(env, base_uids + engine_uids + warm_uids)
            base = asyncio.run(baseline(env, level, base_uids))
            eng = asyncio.run(engine_phase(url, env, level, engine_uids, warm_uids, requester_id,
                                          args.worker_concurrency or level))
            results[str(level)] = {"baseline": base, "engine": eng, "overhead": {
                "runs_per_s": ratio(base["runs_per_s"], eng["runs_per_s"]),
                "p50": ratio(eng["run"]["p50_ms"], base["run"]["p50_ms"]),
                "p95": ratio(eng["run"]["p95_ms"], base["run"]["p95_ms"])}}
        # one run at a time on a worker with the default concurrency (DESKMATE_WORKER_CONCURRENCY): job pickup
        first = len(levels) * per_level
        idle_uids = [uid(first + i) for i in range(idle_runs + 1)]
        lock(env, idle_uids)
        idle = asyncio.run(engine_phase(url, env, 1, idle_uids[1:], idle_uids[:1], requester_id,
                                        Settings.model_fields["worker_concurrency"].default))
    report = {
        "benchmark": "workflows", "workflow": WORKFLOW, "runs_per_level": args.runs, "levels": results,
        "one_run_default_worker_concurrency": idle,
        "setup": "engine.start in this process, deskmate worker (workflows queue, concurrency = level) in a child "
                 "process, embedded PostgreSQL 18 over a unix socket, Debian slapd (mdb, ppolicy) on 127.0.0.1, "
                 "LDAP pool 4 connections; step-up auto-answered 'passed'",
        "overhead_means": "runs_per_s: baseline / engine; p50, p95: engine / baseline (whole run)",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_avg_at_end": [round(x, 2) for x in os.getloadavg()]},
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
