"""The lock store bot/endpoints.yml names (bot/lock_store.py), made by Rasa's own loader from the real file: in
memory without DESKMATE_RASA_LOCK_STORE_URL, Rasa's Redis lock store on a real redis-server with it."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from rasa.core.lock_store import InMemoryLockStore, LockStore, RedisLockStore
from rasa.utils.endpoints import read_endpoint_config

from bot.lock_store import LockStoreURLError, redis_options

ENDPOINTS = Path(__file__).resolve().parents[2] / "bot" / "endpoints.yml"
PASSWORD = "p@ss/word:1"
ENDPOINT_VARIABLES = {"DESKMATE_ACTIONS_URL": "http://127.0.0.1:1/webhook", "DESKMATE_ACTIONS_SECRET": "x",
                      "DESKMATE_RASA_DB_HOST": "127.0.0.1", "DESKMATE_RASA_DB_PORT": "1", "DESKMATE_RASA_DB_NAME": "x",
                      "DESKMATE_RASA_DB_USER": "x", "DESKMATE_RASA_DB_PASSWORD": ""}


@pytest.fixture
def endpoint_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENDPOINT_VARIABLES.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("DESKMATE_RASA_LOCK_STORE_URL", raising=False)


def _lock_store() -> LockStore:
    return LockStore.create(read_endpoint_config(str(ENDPOINTS), "lock_store"))


@pytest.fixture
def redis_port(tmp_path: Path) -> Iterator[int]:
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not os.path.exists(binary):
        pytest.skip("needs Debian's redis-server (make debs)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([binary, "--bind", "127.0.0.1", "--port", str(port), "--requirepass", PASSWORD,
                             "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    for line in proc.stdout:  # the server says when it is ready, or exits
        if "Ready to accept connections" in line:
            break
        assert time.monotonic() < deadline, "redis-server did not start"
    else:
        pytest.fail(f"redis-server exited ({proc.wait()})")
    try:
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


def test_without_the_url_one_rasa_keeps_its_locks_in_memory(endpoint_env: None) -> None:
    assert type(_lock_store()) is InMemoryLockStore


def test_with_the_url_the_locks_are_in_redis_and_shared(endpoint_env: None, redis_port: int,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DESKMATE_RASA_LOCK_STORE_URL", f"redis://:p%40ss%2Fword%3A1@127.0.0.1:{redis_port}/2")
    first, second = _lock_store(), _lock_store()  # two Rasa servers
    assert type(first) is RedisLockStore
    first.save_lock(first.create_lock("conversation-1"))
    assert second.get_lock("conversation-1") is not None  # the other server sees the lock
    assert first.red.keys("*") == [b"deskmate:lock:conversation-1"]


@pytest.mark.parametrize(("url", "says"), [
    ("http://127.0.0.1:6379", "scheme 'http'"),
    ("127.0.0.1:6379", "must look like redis://"),
    ("redis://127.0.0.1:6379/locks", "the database must be a number"),
])
def test_a_url_that_is_not_redis_is_refused_with_a_reason(url: str, says: str) -> None:
    with pytest.raises(LockStoreURLError) as raised:
        redis_options(url)
    assert says in str(raised.value)


def test_the_url_gives_host_port_database_and_the_unquoted_password() -> None:
    assert redis_options("rediss://user:p%40ss@redis.internal:6380/3") == {
        "host": "redis.internal", "port": 6380, "db": 3, "username": "user", "password": "p@ss", "use_ssl": True,
        "key_prefix": "deskmate"}
    assert redis_options("redis://localhost")["port"] == 6379 and redis_options("redis://localhost")["db"] == 1
