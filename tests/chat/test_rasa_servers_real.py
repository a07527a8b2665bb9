"""Two real Rasa servers behind the gateway's client: one tracker store in Postgres, a Redis lock store.

A conversation started on one server continues on the other when the first stops, with its history. Needs
.venv-rasa, the trained model and redis-server; skipped without them unless DESKMATE_REQUIRE_RASA is set.
Each Rasa takes one to two minutes to load (both load at once).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from api.chat.rasa import RasaClient, rendezvous
from api.dev import embedded_pg, stack

REPO_ROOT = Path(__file__).resolve().parents[2]
RASA = REPO_ROOT / ".venv-rasa" / "bin" / "rasa"
MODEL = REPO_ROOT / "bot" / "models" / "deskmate.tar.gz"
REDIS = shutil.which("redis-server") or "/usr/bin/redis-server"
SECRET = "two-rasa-" + os.urandom(8).hex()
TOKEN = "two-rasa-token-" + os.urandom(8).hex()
START_TIMEOUT_S = 900  # a shared 2-core machine loading two models at once


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _redis_command(port: int, command: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(command)
        return s.recv(65536)


def _redis_up(port: int) -> bool:
    try:
        return _redis_command(port, b"PING\r\n").startswith(b"+PONG")
    except OSError:
        return False


def _wait(check, what: str, proc: subprocess.Popen | None = None, timeout_s: float = START_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} not ready after {timeout_s}s")
        time.sleep(0.5)  # polling for a condition


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/status", params={"token": TOKEN}, timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="module")
def two_rasa(pg_server: str, tmp_path_factory) -> Iterator[tuple[list[str], list[subprocess.Popen], int]]:
    if not (RASA.exists() and MODEL.exists() and Path(REDIS).exists()):
        if os.environ.get("DESKMATE_REQUIRE_RASA"):
            pytest.fail(f"DESKMATE_REQUIRE_RASA is set but {RASA}, {MODEL} or {REDIS} is missing")
        pytest.skip("needs .venv-rasa, a trained model and redis-server")
    tmp = tmp_path_factory.mktemp("two-rasa")
    db = "deskmate_rasa_two"
    embedded_pg.drop_database(pg_server, db)
    embedded_pg.ensure_database(pg_server, db)
    redis_port = _free_port()
    procs = [subprocess.Popen([REDIS, "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
                               "--appendonly", "no", "--dir", str(tmp)], stdout=subprocess.DEVNULL)]
    endpoints = yaml.safe_load((REPO_ROOT / "bot" / "endpoints.yml").read_text())
    endpoints["lock_store"] = {"type": "redis", "url": "127.0.0.1", "port": redis_port, "db": 0}
    (tmp / "endpoints.yml").write_text(yaml.safe_dump(endpoints))
    env = {**os.environ, **stack.rasa_tracker_env(pg_server.replace("/postgres?", f"/{db}?")),
           "DESKMATE_ACTIONS_URL": "http://127.0.0.1:9/webhook", "DESKMATE_ACTIONS_SECRET": "unused",
           "DESKMATE_RASA_CHANNEL_SECRET": SECRET, "RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "2",
           "SQLALCHEMY_SILENCE_UBER_WARNING": "1", "PYTHONPATH": str(REPO_ROOT)}
    urls = []
    try:
        _wait(lambda: _redis_up(redis_port), "redis", procs[0], 30)
        for _ in range(2):
            port = _free_port()
            procs.append(subprocess.Popen(
                [str(RASA), "run", "--enable-api", "--auth-token", TOKEN, "--interface", "127.0.0.1", "--port",
                 str(port), "--model", str(MODEL), "--endpoints", str(tmp / "endpoints.yml"), "--credentials",
                 "bot/credentials.yml"], cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL))
            urls.append(f"http://127.0.0.1:{port}")
        for url, proc in zip(urls, procs[1:], strict=True):
            _wait(lambda url=url: _answers(url), f"rasa at {url}", proc)
        yield urls, procs, redis_port
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(30)


def _tracker_texts(url: str, conversation: str) -> list[str]:
    tracker = httpx.get(f"{url}/conversations/{conversation}/tracker", params={"token": TOKEN}, timeout=30).json()
    return [e["text"] for e in tracker["events"] if e["event"] == "user"]


async def test_conversations_spread_and_one_continues_on_the_other_server_when_its_own_stops(two_rasa):
    urls, procs, redis_port = two_rasa
    a, b = urls
    candidates = [f"two-{uuid.uuid4()}" for _ in range(40)]
    on_a = [c for c in candidates if rendezvous(urls, c)[0] == a][:2]
    on_b = [c for c in candidates if rendezvous(urls, c)[0] == b][:2]
    client = RasaClient(urls, channel_secret=SECRET, timeout_s=120)
    commands_before = _redis_command(redis_port, b"INFO stats\r\n")
    try:
        for conversation in on_a + on_b:
            reply = await client.send(sender=conversation, text="hi there", metadata={"channel": "web"})
            assert reply.messages and reply.intent == "greet"
        assert b"total_commands_processed" in commands_before
        stats = _redis_command(redis_port, b"INFO stats\r\n").decode()
        processed = int(stats.split("total_commands_processed:")[1].split()[0])
        assert processed > int(commands_before.decode().split("total_commands_processed:")[1].split()[0]) + 4
        procs[1].terminate()  # server a stops
        procs[1].wait(60)
        for conversation in on_a + on_b:
            reply = await client.send(sender=conversation, text="thanks a lot", metadata={"channel": "web"})
            assert reply.messages and reply.intent == "thank"
    finally:
        await client.aclose()
    for conversation in on_a + on_b:  # b has every conversation's whole history, a's from the shared store
        assert _tracker_texts(b, conversation) == ["hi there", "thanks a lot"]
