"""Ticket API throughput and latency: N concurrent clients creating tickets over HTTP, then GET by id.

Runs real `deskmate serve` processes on the embedded PostgreSQL, in a database of their own, all started before
the first request and measured in turns (each server's create phase split into ``--rounds`` slices, interleaved,
every other round in reverse order, so a change in the machine's load hits them alike):

- ``create``: this code, one uvicorn worker, triage on (every create queues its triage job): the figure the
  target (≥ 500/s at p95 ≤ 40 ms) is about;
- ``create_triage_off``: the same with DESKMATE_TRIAGE_ENABLED=false: what the job and its NOTIFYs cost;
- ``create_2_workers``: ``deskmate serve --workers 2``: how one more process scales on this machine;
- ``create_baseline`` (``--baseline-ref REF``): the api of git revision REF (exported under var/bench/), the
  code before a change, measured beside it in the same run;
- ``get_by_id``: GET of the created tickets on the first server, the read path the creates compare against.

Besides latency and throughput, each phase reports the CPU its processes used per request, read from /proc:
the api process(es), PostgreSQL (postmaster, backends and the backends that exited), and this client.
Those are less sensitive to other work on the machine than the rates. The servers run without the chat's intent
hints (DESKMATE_NLU_HINTS=false): ticket requests never use them, and each api would otherwise load the
embedding model. Prints one JSON object; progress on stderr.

    .venv/bin/python bench/tickets.py [--clients 8] [--requests 200] [--rounds 2] [--baseline-ref REF]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import platform
import subprocess
import sys
import tarfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson
from _server import BENCH_DATA_DIR, REPO_ROOT, bench_database, summary, token_for
from pydantic import TypeAdapter

from api.auth.models import Role
from api.dev import stack
from api.tickets.models import Ticket

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()  # the fields after "pid (comm) "


def cpu_s(root: int) -> float:
    """CPU seconds of ``root`` and every live descendant, plus the children they reaped (cutime, cstime)."""
    children: dict[int, list[int]] = {}
    stats: dict[int, list[str]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) is not None:
            stats[int(entry.name)] = fields
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        if (fields := stats.get(pid)) is not None:  # utime stime cutime cstime: fields 14-17 of stat(5)
            total += sum(int(x) for x in fields[11:15])
        todo += children.get(pid, [])
    return total / CLK_TCK


def postmaster_pid() -> int:
    return int((BENCH_DATA_DIR / "pgdata" / "postmaster.pid").read_text().split()[0])


@dataclass
class Server:
    label: str
    base: str
    proc: subprocess.Popen[bytes]
    latencies: list[float] = field(default_factory=list)
    elapsed: float = 0.0
    cpu: dict[str, float] = field(default_factory=lambda: {"api": 0.0, "postgres": 0.0, "client": 0.0})


@contextmanager
def serve(label: str, url: str, port: int, *, cwd: Path = REPO_ROOT, workers: int = 1,
          **env: str) -> Iterator[Server]:
    """``deskmate serve`` from ``cwd`` (a checkout: ``python -m`` imports its ``api``), ready when this yields."""
    proc_env = {**os.environ, "DATABASE_URL": url, "DESKMATE_PORT": str(port), "DESKMATE_NLU_HINTS": "false",
                "DESKMATE_LOG_LEVEL": os.environ.get("DESKMATE_LOG_LEVEL", "WARNING"), "DESKMATE_DB_POOL_MAX": "20",
                **env}
    args = ["--workers", str(workers)] if workers > 1 else []
    proc = subprocess.Popen([sys.executable, "-m", "api.cli", "serve", *args], env=proc_env, cwd=cwd)
    base = f"http://127.0.0.1:{port}"
    try:
        stack.wait_until_ready(f"{base}/readyz", proc, timeout_s=300, what=f"the api ({label})")
        yield Server(label, base, proc)
    finally:
        proc.terminate()
        proc.wait(30)


def export(ref: str) -> Path:
    """The tree of git revision ``ref`` under var/bench/baseline-<sha> (made once)."""
    sha = subprocess.run(["git", "rev-parse", "--short=12", ref], cwd=REPO_ROOT, check=True, capture_output=True,
                         text=True).stdout.strip()
    target = BENCH_DATA_DIR / f"baseline-{sha}"
    if not (target / "api" / "cli.py").exists():
        tar = subprocess.run(["git", "archive", sha], cwd=REPO_ROOT, check=True, capture_output=True).stdout
        with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
            archive.extractall(target, filter="data")
    return target


Call = Callable[[httpx.AsyncClient, int, int], Awaitable[None]]


async def phase(server: Server, clients: int, per_client: int, call: Call, headers: dict[str, str]) -> None:
    """``clients`` connections making ``per_client`` calls each; adds the latencies, time and CPU to ``server``.

    Each connection makes one call first, untimed, so the clock starts with every connection open."""
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async def one(client_no: int, http: httpx.AsyncClient, calls: int, into: list[float]) -> None:
        for i in range(calls):
            started = time.perf_counter()
            await call(http, client_no, i)
            into.append(time.perf_counter() - started)

    async with httpx.AsyncClient(base_url=server.base, headers=headers, limits=limits, timeout=30) as http:
        await asyncio.gather(*(one(c, http, 1, []) for c in range(clients)))
        before = (cpu_s(server.proc.pid), cpu_s(postmaster_pid()), time.process_time(), time.perf_counter())
        await asyncio.gather(*(one(c, http, per_client, server.latencies) for c in range(clients)))
        after = (cpu_s(server.proc.pid), cpu_s(postmaster_pid()), time.process_time(), time.perf_counter())
    server.elapsed += after[3] - before[3]
    for key, b, a in zip(("api", "postgres", "client"), before, after, strict=False):
        server.cpu[key] += a - b


def report(server: Server) -> dict[str, object]:
    """Latency and throughput of the timed calls, and the CPU each side used per call."""
    stats: dict[str, object] = dict(summary(server.latencies, server.elapsed))
    stats["cpu_ms_per_request"] = {k: round(1000 * v / len(server.latencies), 3) for k, v in server.cpu.items()}
    return stats


def json_encoding(ticket: dict[str, object], n: int = 20000) -> dict[str, float]:
    """Microseconds to encode one created ticket, as FastAPI does for a route that declares its return type
    (pydantic-core's dump_json, FastAPI ≥ 0.130) and as ORJSONResponse would (orjson over a model_dump; FastAPI
    then skips its dump_json path), in this process."""
    model = Ticket.model_validate(ticket)
    adapter = TypeAdapter(Ticket)
    ways = {"pydantic_dump_json": lambda: adapter.dump_json(model),
            "orjson_over_model_dump": lambda: orjson.dumps(model.model_dump(mode="json"))}
    if json.loads(ways["pydantic_dump_json"]()) != json.loads(ways["orjson_over_model_dump"]()):
        raise RuntimeError("the two encodings differ")
    out = {}
    for name, way in ways.items():
        started = time.perf_counter()
        for _ in range(n):
            way()
        out[name] = round((time.perf_counter() - started) * 1e6 / n, 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients")
    parser.add_argument("--requests", type=int, default=200, help="requests per client and server")
    parser.add_argument("--rounds", type=int, default=2, help="slices each server's creates are split into")
    parser.add_argument("--port", type=int, default=8765, help="the first server's port; the others follow it")
    parser.add_argument("--baseline-ref", help="also measure the api of this git revision (e.g. main before a change)")
    parser.add_argument("--no-workers", action="store_true", help="skip the --workers 2 server")
    args = parser.parse_args()
    if args.clients < 1 or args.requests < 1 or args.rounds < 1 or args.requests % args.rounds:
        parser.error("--clients, --requests and --rounds must be positive, and --rounds must divide --requests")

    with bench_database("deskmate_bench_tickets") as url, ExitStack() as stack_:
        token = token_for(url, Role.agent)
        headers = {"Authorization": f"Bearer {token}"}
        print("starting the api servers", file=sys.stderr)
        servers = [stack_.enter_context(serve("create", url, args.port))]
        servers.append(stack_.enter_context(serve("create_triage_off", url, args.port + 1,
                                                  DESKMATE_TRIAGE_ENABLED="false")))
        if not args.no_workers:
            servers.append(stack_.enter_context(serve("create_2_workers", url, args.port + 2, workers=2)))
        if args.baseline_ref:
            servers.append(stack_.enter_context(serve("create_baseline", url, args.port + 3,
                                                      cwd=export(args.baseline_ref))))
        created: list[int] = []
        sample: dict[str, object] = {}
        per_phase = args.requests // args.rounds

        async def create(http: httpx.AsyncClient, c: int, i: int) -> None:
            body = {"title": f"Printer on floor {c} jams ({i})", "description": "Paper jam in tray 2, "
                    "error 13.A2.D3 after every few pages", "urgency": 1 + i % 3, "impact": 1 + c % 3}
            r = await http.post("/api/v1/tickets", json=body, headers={"Idempotency-Key": uuid.uuid4().hex})
            if r.status_code != 201:
                raise RuntimeError(f"create answered {r.status_code}: {r.text[:300]}")
            sample.update(r.json())
            created.append(sample["id"])  # type: ignore[arg-type]

        async def get(http: httpx.AsyncClient, c: int, i: int) -> None:
            r = await http.get(f"/api/v1/tickets/{created[(c * args.requests + i) % len(created)]}")
            r.raise_for_status()

        async def go() -> dict[str, object]:
            for round_no in range(args.rounds):  # every other round in reverse: a drifting load hits all alike
                for server in servers if round_no % 2 == 0 else servers[::-1]:
                    print(f"round {round_no + 1}/{args.rounds}: {server.label}", file=sys.stderr)
                    await phase(server, args.clients, per_phase, create, headers)
            reads = Server("get_by_id", servers[0].base, servers[0].proc)
            await phase(reads, args.clients, args.requests, get, headers)
            return {s.label: report(s) for s in [*servers, reads]}

        results = asyncio.run(go())
    first = results["create"]
    out: dict[str, object] = {
        "benchmark": "tickets", "clients": args.clients, "requests_per_client": args.requests, "rounds": args.rounds,
        "server": "deskmate serve on the embedded PostgreSQL 18 over a unix socket; the client (httpx) on the same "
                  "machine",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load": os.getloadavg()},
        **results,
        "json_encoding_us_per_ticket": json_encoding(sample),
        "create_vs_get_p95_ratio": _ratio(first, results["get_by_id"], "p95_ms"),
        "create_triage_on_vs_off_per_s_ratio": _ratio(first, results["create_triage_off"], "per_s"),
        "target_500_per_s_at_p95_40_ms": first["per_s"] >= 500 and first["p95_ms"] <= 40,  # type: ignore[index,operator]
    }
    if "create_2_workers" in results:
        out["workers_2_vs_1_per_s_ratio"] = _ratio(results["create_2_workers"], first, "per_s")
    if args.baseline_ref:
        out["baseline_ref"] = args.baseline_ref
        out["create_vs_baseline_per_s_ratio"] = _ratio(first, results["create_baseline"], "per_s")
        out["create_vs_baseline_p95_ratio"] = _ratio(first, results["create_baseline"], "p95_ms")
    print(json.dumps(out, indent=2))


def _ratio(a: object, b: object, key: str) -> float:
    return round(a[key] / b[key], 2)  # type: ignore[index,no-any-return]


if __name__ == "__main__":
    main()
