"""Chat turn latency through the gateway vs. the same turns sent straight to Rasa, in one run.

Three measurements, all against the real Rasa server and action server:

1. **Gateway vs. direct** at each ``--clients`` level (default 4 and 20): N concurrent simulated employees
   each hold multi-turn conversations (greeting, a problem, thanks, goodbye). The same turns go to Rasa's
   deskmate channel directly and through the api gateway, one after the other, so the gateway's cost is
   a ratio (``p95_ratio`` = gateway p95 / direct p95; ``throughput_ratio`` = gateway / direct turns/s).
2. **Long conversations** (``--long-turns``, default 100): a few conversations of that many turns each,
   directly to Rasa and through the gateway; the median latency at turn 1, 25 and 100 (and of the windows
   around them) shows whether a turn gets slower as the tracker Rasa loads from Postgres grows.
3. With ``--rasa 2``: two Rasa servers (each with its own action server) sharing the tracker store and a
   Redis lock store (a redis-server of its own); direct turns to one server vs. spread over both, and the
   gateway spreading conversations over both (``DESKMATE_RASA_URLS``).

    .venv/bin/python bench/chat.py                   # starts its own api + rasa + actions (~2 min)
    .venv/bin/python bench/chat.py --rasa 2          # two Rasa servers (~3 min)
    .venv/bin/python bench/chat.py --attach          # against a running `make run` stack

Prints one JSON object on stdout; progress goes to stderr. The machine is shared: read ratios, not
absolute figures.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import time
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import yaml
from _server import REPO_ROOT, api_process, bench_database, summary

from api.chat.identity import sign_identity
from api.chat.rasa import channel_secret
from api.dev.stack import wait_until_ready
from api.settings import Settings

CONVERSATION = ["hi there", "my laptop fan is really loud and it gets hot", "thanks a lot", "bye"]
BENCH_DIR = REPO_ROOT / "var" / "bench"


def progress(*parts: object) -> None:
    print("chat bench:", *parts, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def endpoints_file(path: Path, *, redis_port: int | None, compacting: bool) -> Path:
    """bot/endpoints.yml's action endpoint and tracker store (``compacting``: bot/tracker_store.py's), plus a Redis
    lock store when ``redis_port`` is set."""
    endpoints = yaml.safe_load((REPO_ROOT / "bot" / "endpoints.yml").read_text())
    endpoints["tracker_store"]["type"] = "bot.tracker_store.CompactingSQLTrackerStore" if compacting else "SQL"
    endpoints.pop("lock_store", None)
    if redis_port is not None:
        endpoints["lock_store"] = {"type": "redis", "url": "127.0.0.1", "port": redis_port, "db": 0}
    path.write_text(yaml.safe_dump(endpoints))
    return path


def start_redis(port: int, directory: Path) -> subprocess.Popen[bytes]:
    server = shutil.which("redis-server") or "/usr/bin/redis-server"
    proc = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(directory)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return proc
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.terminate()
            raise RuntimeError("redis-server did not start")
        time.sleep(0.1)  # polling a port, not a timing assumption


def start_rasa(env: dict[str, str], rasa_port: int, actions_port: int, *,
               endpoints: Path) -> list[subprocess.Popen[bytes]]:
    venv = REPO_ROOT / ".venv-rasa" / "bin"
    env = {**env, "DESKMATE_ACTIONS_URL": f"http://127.0.0.1:{actions_port}/webhook"}
    log = (BENCH_DIR / f"rasa-{rasa_port}.log").open("ab")  # Rasa's and the action server's output, if one fails
    actions = subprocess.Popen([str(venv / "python"), "-m", "actions.server", "--host", "127.0.0.1", "--port",
                                str(actions_port)], cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    rasa = subprocess.Popen([str(venv / "rasa"), "run", "--enable-api", "--auth-token", env["DESKMATE_RASA_TOKEN"],
                             "--interface", "127.0.0.1", "--port", str(rasa_port), "--model",
                             "bot/models/deskmate.tar.gz", "--endpoints", str(endpoints), "--credentials",
                             "bot/credentials.yml"], cwd=REPO_ROOT, env={**env, "PYTHONPATH": str(REPO_ROOT)},
                            stdout=log, stderr=subprocess.STDOUT)
    return [rasa, actions]


def wait_rasa(procs: list[subprocess.Popen[bytes]], url: str, timeout_s: float = 1200) -> None:
    try:
        wait_until_ready(f"{url}/", procs[0], timeout_s=timeout_s, what="rasa")
    except RuntimeError:
        for proc in procs:
            proc.terminate()
        raise


def bot_token(url: str) -> str:
    """A service token for the action servers (the bot's identity), as `deskmate run` issues one."""
    import psycopg
    from psycopg.rows import dict_row

    from api.dev import stack as deskmate_stack

    async def issue() -> str:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True, row_factory=dict_row) as conn:
            return await deskmate_stack.service_token(conn)

    return asyncio.run(issue())


def sticky(servers: list[str], key: str) -> str:
    """Rendezvous choice of a server for a conversation (the gateway's rule, for direct turns over several)."""
    return max(servers, key=lambda s: hashlib.sha256(f"{s}\n{key}".encode()).digest())


async def conversations(clients: int, rounds: int, turn: Any) -> dict[str, Any]:
    """``clients`` employees at once, ``rounds`` conversations each: raw latencies and the elapsed time."""
    latencies: list[float] = []

    async def employee(n: int, http: httpx.AsyncClient) -> None:
        for _ in range(rounds):
            state = await turn.start(http, n)
            for text in CONVERSATION:
                started = time.perf_counter()
                await turn.say(http, state, text)
                latencies.append(time.perf_counter() - started)

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(limits=limits, timeout=120) as http:
        started = time.perf_counter()
        await asyncio.gather(*(employee(n, http) for n in range(clients)))
        elapsed = time.perf_counter() - started
    return {"latencies": latencies, "elapsed": elapsed}


async def side_by_side(clients: int, rounds: int, turns: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Each of ``turns`` for ``rounds`` conversations per employee, in two halves in ABBA order (A, B, B, A), so
    a machine that gets busier or quieter during the run weighs on every side alike."""
    first = (rounds + 1) // 2
    names = list(turns)
    order = [(n, first) for n in names] + [(n, rounds - first) for n in reversed(names)]
    runs: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
    for name, n_rounds in order:
        if n_rounds:
            runs[name].append(await conversations(clients, n_rounds, turns[name]))
    out = {}
    for name, parts in runs.items():
        stats = summary([x for p in parts for x in p["latencies"]], sum(p["elapsed"] for p in parts))
        stats["turns_per_s"] = stats.pop("per_s")
        out[name] = stats
    return out


async def long_conversations(parallel: int, turns: int, turn: Any) -> dict[str, Any]:
    """``parallel`` conversations of ``turns`` turns each; median latency by turn number."""
    by_turn: list[list[float]] = [[] for _ in range(turns)]

    async def one(n: int, http: httpx.AsyncClient) -> None:
        state = await turn.start(http, n)
        for i in range(turns):
            text = CONVERSATION[i % len(CONVERSATION)]
            started = time.perf_counter()
            await turn.say(http, state, text)
            by_turn[i].append((time.perf_counter() - started) * 1000)

    async with httpx.AsyncClient(timeout=60) as http:
        await asyncio.gather(*(one(n, http) for n in range(parallel)))
    at = {f"turn_{t}_ms": round(statistics.median(by_turn[t - 1]), 1) for t in (1, 25, turns) if t <= turns}

    def window(lo: int, hi: int) -> float:  # turns lo..hi inclusive, 1-based: a full cycle of the conversation
        return round(statistics.median(x for i in range(lo - 1, min(hi, turns)) for x in by_turn[i]), 1)

    windows = {"turns_2_9_ms": window(2, 9), "turns_21_28_ms": window(21, 28),
               f"turns_{turns - 7}_{turns}_ms": window(turns - 7, turns)}
    return {"conversations": parallel, "turns": turns, **at, **windows,
            "last_over_early": round(window(turns - 7, turns) / window(2, 9), 3)}


class Gateway:
    def __init__(self, api: str, identity: str) -> None:
        self.api, self.identity = api, identity

    async def start(self, http: httpx.AsyncClient, n: int) -> tuple[str, dict[str, str]]:
        r = await http.post(f"{self.api}/api/v1/chat/conversations", json={"identity": self.identity})
        r.raise_for_status()
        return r.json()["conversation_id"], {"X-Chat-Session": r.json()["session_token"]}

    async def say(self, http: httpx.AsyncClient, state: tuple[str, dict[str, str]], text: str) -> None:
        conv, headers = state
        r = await http.post(f"{self.api}/api/v1/chat/conversations/{conv}/messages", json={"text": text},
                            headers=headers)
        r.raise_for_status()
        assert r.json()["messages"], "the gateway returned no reply"


class Direct:
    """Turns straight to Rasa's deskmate channel (with its secret; anonymous: no assertion), each conversation on
    one of ``servers`` (rendezvous by conversation id, like the gateway)."""

    def __init__(self, servers: list[str], secret: str) -> None:
        self.servers, self.secret = servers, secret

    async def start(self, http: httpx.AsyncClient, n: int) -> str:
        return f"direct-{uuid.uuid4()}"

    async def say(self, http: httpx.AsyncClient, sender: str, text: str) -> None:
        body = {"sender": sender, "message": text, "metadata": {"conversation_id": sender, "channel": "web"}}
        r = await http.post(f"{sticky(self.servers, sender)}/webhooks/deskmate/webhook", json=body,
                            headers={"X-Deskmate-Channel-Secret": self.secret})
        r.raise_for_status()
        assert r.json()["messages"], "rasa returned no reply"


# where a turn's CPU goes, by process: a stack containing one of these frames counts for that part (inclusive)
PROFILE_PARTS = {
    "api": {"nlu hint (query embedding)": ("aembed_query", "embed_query"), "database (psycopg)": ("psycopg",),
            "rasa call (httpx)": ("httpx", "httpcore"), "turn pipeline": ("post_message",)},
    "rasa": {"nlu parse": ("parse_message",), "tracker load": ("get_or_create_tracker", "_retrieve"),
             "tracker save": ("save_tracker",), "policies (prediction)": ("predict_next_with_tracker_if_should",
                                                                     "_predict_next_with_tracker"),
             "action server calls (client side)": ("utils/endpoints.py",),
             "channel's extra tracker load": ("_latest_intent",)},
}


def listening_pid(url: str) -> int | None:
    import psutil

    port = int(url.rsplit(":", 1)[1].split("/")[0])
    for conn in psutil.net_connections("tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
            return conn.pid
    return None


def start_profile(name: str, url: str, seconds: int) -> tuple[str, subprocess.Popen[bytes], Path] | None:
    pid, spy = listening_pid(url), Path(sys.executable).parent / "py-spy"
    if pid is None or not spy.exists():
        progress(f"no profile of {name}: pid {pid}, py-spy {spy.exists()}")
        return None
    out = BENCH_DIR / f"profile-{name}.txt"
    proc = subprocess.Popen([str(spy), "record", "--pid", str(pid), "--duration", str(seconds), "--rate", "100",
                             "--nonblocking", "--subprocesses", "--format", "raw", "--output", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return name, proc, out


def read_profile(name: str, proc: subprocess.Popen[bytes], out: Path) -> dict[str, Any]:
    proc.wait(120)
    total, parts = 0, dict.fromkeys(PROFILE_PARTS.get(name, {}), 0)
    for line in out.read_text().splitlines() if out.exists() else []:
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        total += int(count)
        for part, frames in PROFILE_PARTS.get(name, {}).items():
            if any(f in stack for f in frames):
                parts[part] += int(count)
    return {"cpu_samples": total, **{k: round(v / total, 3) if total else None for k, v in parts.items()}}


def ratios(gateway: dict[str, float], direct: dict[str, float]) -> dict[str, float]:
    return {"p50_ratio": round(gateway["p50_ms"] / direct["p50_ms"], 3),
            "p95_ratio": round(gateway["p95_ms"] / direct["p95_ms"], 3),
            "throughput_ratio": round(gateway["turns_per_s"] / direct["turns_per_s"], 3)}


def machine() -> dict[str, Any]:
    load = os.getloadavg()
    return {"cpus": os.cpu_count(), "load_avg_1_5_15": [round(x, 2) for x in load], "platform": platform.platform(),
            "python": sys.version.split()[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", default="4,20", help="concurrent conversations, comma-separated levels")
    parser.add_argument("--rounds", type=int, default=5, help="conversations per simulated employee")
    parser.add_argument("--long-turns", type=int, default=100, help="turns of each long conversation (0: skip)")
    parser.add_argument("--long-parallel", type=int, default=3, help="long conversations at once")
    parser.add_argument("--rasa", type=int, default=1, choices=(1, 2), help="Rasa servers to start")
    parser.add_argument("--profile", type=int, default=0, metavar="SECONDS",
                        help="py-spy the api and rasa processes for this long during the busiest gateway run")
    parser.add_argument("--tracker-store", choices=("compacting", "sql"), default="compacting",
                        help="Rasa's tracker store: bot/tracker_store.py's compacting one, or Rasa's SQL store")
    parser.add_argument("--no-hint-too", action="store_true",
                        help="also a second api with the gateway's NLU hint off (DESKMATE_NLU_HINTS=false)")
    parser.add_argument("--attach", action="store_true", help="use the stack `make run` started")
    parser.add_argument("--api", default="http://127.0.0.1:8000")
    parser.add_argument("--rasa-url", default="http://127.0.0.1:5005")
    parser.add_argument("--data-dir", default=str(REPO_ROOT / "var"), help="with --attach: the stack's data dir")
    args = parser.parse_args()
    levels = [int(c) for c in args.clients.split(",") if c.strip()]
    email = "jordan.blake@example.com"
    load_before = machine()

    api_no_hint = None
    with ExitStack() as stack:
        if args.attach:
            api, servers = args.api, [args.rasa_url]
            identity = sign_identity(Settings(data_dir=Path(args.data_dir)), email)
            secret = channel_secret(Settings(data_dir=Path(args.data_dir)))
        else:
            from api.dev import stack as deskmate_stack

            url = stack.enter_context(bench_database("deskmate_bench_chat"))
            settings = Settings(data_dir=BENCH_DIR)
            progress("indexing the demo knowledge base (the bot's answers search it)")
            subprocess.run([sys.executable, "-m", "api.cli", "kb", "ingest", str(REPO_ROOT / "data" / "kb")],
                           cwd=REPO_ROOT, env={**os.environ, "DATABASE_URL": url, "DESKMATE_DATA_DIR": str(BENCH_DIR),
                                               "DESKMATE_LOG_LEVEL": "WARNING"},
                           check=True, stdout=subprocess.DEVNULL)
            api_port = free_port()  # the action servers call this api back (knowledge search), as the bot's service
            env = {**os.environ, **deskmate_stack.process_env(
                settings, database_url=url, tracker_url=url, bot_token=bot_token(url)),
                "DESKMATE_API_URL": f"http://127.0.0.1:{api_port}"}
            redis_port = None
            if args.rasa > 1:
                redis_port = free_port()
                redis = start_redis(redis_port, BENCH_DIR)
                stack.callback(redis.terminate)
            endpoints = endpoints_file(BENCH_DIR / "chat-endpoints.yml", redis_port=redis_port,
                                       compacting=args.tracker_store == "compacting")
            procs, servers = [], []
            for _ in range(args.rasa):
                rasa_port, actions_port = free_port(), free_port()
                started = start_rasa(env, rasa_port, actions_port, endpoints=endpoints)
                for proc in started:
                    stack.callback(proc.terminate)
                procs.append(started)
                servers.append(f"http://127.0.0.1:{rasa_port}")
            progress(f"starting {args.rasa} rasa server(s) {servers} (one to two minutes each)")
            for started, server in zip(procs, servers, strict=True):
                wait_rasa(started, server)
            api = stack.enter_context(api_process(url, api_port, DESKMATE_RASA_URL=servers[0],
                                                  DESKMATE_RASA_URLS=",".join(servers),
                                                  DESKMATE_CHAT_RATE_PER_MINUTE="100000",  # one client, many turns
                                                  DESKMATE_CHAT_START_PER_ADDRESS_PER_MINUTE="100000",
                                                  DESKMATE_CHAT_START_PER_MINUTE="100000",
                                                  DESKMATE_DATA_DIR=str(settings.data_dir),
                                                  DESKMATE_RASA_TOKEN=env["DESKMATE_RASA_TOKEN"]))
            if args.no_hint_too:
                api_no_hint = stack.enter_context(api_process(
                    url, free_port(), DESKMATE_RASA_URL=servers[0], DESKMATE_RASA_URLS=",".join(servers),
                    DESKMATE_NLU_HINTS="false", DESKMATE_CHAT_RATE_PER_MINUTE="100000",
                    DESKMATE_CHAT_START_PER_ADDRESS_PER_MINUTE="100000", DESKMATE_CHAT_START_PER_MINUTE="100000",
                    DESKMATE_DATA_DIR=str(settings.data_dir), DESKMATE_RASA_TOKEN=env["DESKMATE_RASA_TOKEN"]))
            identity = sign_identity(settings, email)
            secret = env["DESKMATE_RASA_CHANNEL_SECRET"]

        async def go() -> dict[str, Any]:
            out: dict[str, Any] = {}
            await conversations(2, 1, Direct(servers, secret))  # warm-up: every server, the api's hinter
            await conversations(2, 1, Gateway(api, identity))
            for clients in levels:
                sides: dict[str, Any] = {"direct_rasa": Direct(servers, secret), "gateway": Gateway(api, identity)}
                if len(servers) > 1:
                    sides["direct_one_rasa"] = Direct(servers[:1], secret)
                if api_no_hint:
                    sides["gateway_no_hint"] = Gateway(api_no_hint, identity)
                progress(f"{clients} concurrent conversations: {', '.join(sides)} (ABBA)")
                profiles = ([p for p in (start_profile("api", api, args.profile),
                                         start_profile("rasa", servers[0], args.profile)) if p]
                            if args.profile and clients == max(levels) else [])
                level: dict[str, Any] = await side_by_side(clients, args.rounds, sides)
                level.update(ratios(level["gateway"], level["direct_rasa"]))
                if api_no_hint:
                    level["no_hint"] = ratios(level["gateway_no_hint"], level["direct_rasa"])
                if len(servers) > 1:
                    one = level["direct_one_rasa"]
                    level["rasa_scaling"] = round(level["direct_rasa"]["turns_per_s"] / one["turns_per_s"], 3)
                    level["gateway_over_one_rasa"] = round(level["gateway"]["turns_per_s"] / one["turns_per_s"], 3)
                if profiles:
                    level["cpu_profile_share"] = {p[0]: read_profile(*p) for p in profiles}
                out[f"clients_{clients}"] = level
            if args.long_turns:
                progress(f"{args.long_parallel} conversations of {args.long_turns} turns: direct, then gateway")
                out["long_conversation"] = {
                    "direct_rasa": await long_conversations(args.long_parallel, args.long_turns,
                                                            Direct(servers, secret)),
                    "gateway": await long_conversations(args.long_parallel, args.long_turns, Gateway(api, identity))}
            return out

        results = asyncio.run(go())
    print(json.dumps({
        "benchmark": "chat", "rasa_servers": len(servers),
        "tracker_store": None if args.attach else args.tracker_store, "conversations_per_client": args.rounds,
        "turns_per_conversation": len(CONVERSATION), **results,
        "targets": {"p95_ratio_max": 1.10, "throughput_ratio_min": 0.95},
        "machine_before": load_before, "machine_after": machine(),
    }, indent=2))


if __name__ == "__main__":
    main()
