"""Chat turn latency through the gateway vs. the same turns sent straight to Rasa's REST channel.

N concurrent simulated employees each hold multi-turn conversations (greeting, a problem, thanks,
goodbye: intent turns handled by the real Rasa server and action server). The same turns go
to Rasa's REST channel directly in the same run, so the gateway's overhead is a ratio.

    .venv/bin/python bench/chat.py --attach          # against a running `make run` stack
    .venv/bin/python bench/chat.py                   # starts its own api + rasa + actions (~2 min)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

import httpx
from _server import REPO_ROOT, api_process, bench_database, summary

from api.chat.identity import sign_identity
from api.chat.rasa import channel_secret
from api.dev.stack import wait_until_ready
from api.settings import Settings

CONVERSATION = ["hi there", "my laptop fan is really loud and it gets hot", "thanks a lot", "bye"]


def start_rasa(env: dict[str, str], rasa_port: int, actions_port: int, *,
               timeout_s: float = 300) -> list[subprocess.Popen[bytes]]:
    venv = REPO_ROOT / ".venv-rasa" / "bin"
    actions = subprocess.Popen([str(venv / "python"), "-m", "actions.server", "--host", "127.0.0.1", "--port",
                                str(actions_port)], cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    rasa = subprocess.Popen([str(venv / "rasa"), "run", "--enable-api", "--auth-token", env["DESKMATE_RASA_TOKEN"],
                             "--interface", "127.0.0.1", "--port", str(rasa_port), "--model",
                             "bot/models/deskmate.tar.gz", "--endpoints", "bot/endpoints.yml", "--credentials",
                             "bot/credentials.yml"], cwd=REPO_ROOT, env={**env, "PYTHONPATH": str(REPO_ROOT)},
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        wait_until_ready(f"http://127.0.0.1:{rasa_port}/", rasa, timeout_s=timeout_s, what="rasa")
    except RuntimeError:
        actions.terminate()
        raise
    return [rasa, actions]


async def conversations(clients: int, rounds: int, turn) -> dict[str, float]:  # type: ignore[no-untyped-def]
    latencies: list[float] = []

    async def employee(n: int, http: httpx.AsyncClient) -> None:
        for _ in range(rounds):
            state = await turn.start(http, n)
            for text in CONVERSATION:
                started = time.perf_counter()
                await turn.say(http, state, text)
                latencies.append(time.perf_counter() - started)

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(limits=limits, timeout=60) as http:
        started = time.perf_counter()
        await asyncio.gather(*(employee(n, http) for n in range(clients)))
        elapsed = time.perf_counter() - started
    stats = summary(latencies, elapsed)
    stats["turns_per_s"] = stats.pop("per_s")
    return stats


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
    """Turns straight to Rasa's deskmate channel (with its secret; anonymous: no assertion)."""

    def __init__(self, rasa: str, secret: str) -> None:
        self.rasa, self.secret = rasa, secret

    async def start(self, http: httpx.AsyncClient, n: int) -> str:
        return f"direct-{uuid.uuid4()}"

    async def say(self, http: httpx.AsyncClient, sender: str, text: str) -> None:
        body = {"sender": sender, "message": text, "metadata": {"conversation_id": sender, "channel": "web"}}
        r = await http.post(f"{self.rasa}/webhooks/deskmate/webhook", json=body,
                            headers={"X-Deskmate-Channel-Secret": self.secret})
        r.raise_for_status()
        assert r.json()["messages"], "rasa returned no reply"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=20, help="concurrent conversations")
    parser.add_argument("--rounds", type=int, default=5, help="conversations per simulated employee")
    parser.add_argument("--attach", action="store_true", help="use the stack `make run` started")
    parser.add_argument("--api", default="http://127.0.0.1:8000")
    parser.add_argument("--rasa", default="http://127.0.0.1:5005")
    parser.add_argument("--data-dir", default=str(REPO_ROOT / "var"), help="with --attach: the stack's data dir")
    args = parser.parse_args()
    email = "jordan.blake@example.com"

    with ExitStack() as stack:
        if args.attach:
            api, rasa = args.api, args.rasa
            identity = sign_identity(Settings(data_dir=Path(args.data_dir)), email)
            secret = channel_secret(Settings(data_dir=Path(args.data_dir)))
        else:
            from api.dev import stack as deskmate_stack

            url = stack.enter_context(bench_database("deskmate_bench_chat"))
            settings = Settings(data_dir=REPO_ROOT / "var" / "bench")
            rasa_port, actions_port, api_port = 5105, 5155, 8105
            env = {**os.environ, **deskmate_stack.process_env(
                settings, database_url=url, tracker_url=url, bot_token="unused-in-this-benchmark"),
                "DESKMATE_ACTIONS_URL": f"http://127.0.0.1:{actions_port}/webhook"}
            for proc in start_rasa(env, rasa_port, actions_port):
                stack.callback(proc.terminate)
            rasa = f"http://127.0.0.1:{rasa_port}"
            api = stack.enter_context(api_process(url, api_port, DESKMATE_RASA_URL=rasa,
                                                  DESKMATE_DATA_DIR=str(settings.data_dir),
                                                  DESKMATE_RASA_TOKEN=env["DESKMATE_RASA_TOKEN"]))
            identity = sign_identity(settings, email)
            secret = env["DESKMATE_RASA_CHANNEL_SECRET"]

        async def go() -> dict[str, object]:
            await conversations(2, 1, Direct(rasa, secret))  # warm-up
            direct = await conversations(args.clients, args.rounds, Direct(rasa, secret))
            gateway = await conversations(args.clients, args.rounds, Gateway(api, identity))
            return {"direct_rasa": direct, "gateway": gateway}

        results = asyncio.run(go())
    g, d = results["gateway"], results["direct_rasa"]
    print(json.dumps({
        "benchmark": "chat", "clients": args.clients, "conversations_per_client": args.rounds,
        "turns_per_conversation": len(CONVERSATION), **results,
        "overhead_p50": round(g["p50_ms"] / d["p50_ms"] - 1, 3),  # type: ignore[index]
        "overhead_p95": round(g["p95_ms"] / d["p95_ms"] - 1, 3),  # type: ignore[index]
        "throughput_ratio": round(g["turns_per_s"] / d["turns_per_s"], 3),  # type: ignore[index]
        "python": sys.version.split()[0],
    }, indent=2))


if __name__ == "__main__":
    main()
