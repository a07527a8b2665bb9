"""``deskmate run --replicas``: what it starts for a count per process, the errors for counts it cannot run, and
the Redis lock store two Rasa servers share — started by the run, reached through Rasa's own lock store code
(bot/lock_store.py in .venv-rasa) by two stand-ins for Rasa, and stopped with everything else.

The real api, worker and Rasa replicas run in test_replicas_stack.py."""

from __future__ import annotations

import ast
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from replica_support import DeskmateRun, alive, group_members, run_env

from api.dev import imap, replicas, supervisor
from api.settings import REPO_ROOT, Settings

RASA_PYTHON = REPO_ROOT / ".venv-rasa" / "bin" / "python"
PROCFILE = supervisor.read_procfile(REPO_ROOT / "Procfile")


@pytest.fixture(autouse=True)
async def _no_demo_desk_mailbox_left(conn) -> AsyncIterator[None]:
    """`deskmate run` saves the demo desk mailbox; other tests' workers must not poll it once its Dovecot is gone."""
    yield
    await conn.execute("DELETE FROM mailboxes WHERE name = %s", (imap.MAILBOX_NAME,))


def _settings(**values: object) -> Settings:
    return Settings(env="test", _env_file=None, **values)  # type: ignore[call-arg]


def test_a_spec_names_procfile_processes_with_counts() -> None:
    assert replicas.parse("api=2, rasa=2,worker=3", processes=list(PROCFILE)) == {"api": 2, "rasa": 2, "worker": 3}


@pytest.mark.parametrize(("spec", "says"), [
    ("api", "'api' is not NAME=COUNT"),
    ("api=two", "'api=two' is not NAME=COUNT"),
    ("api=2,", "'' is not NAME=COUNT"),
    ("web=2", "the Procfile has no process 'web' (it has api, rasa, actions, worker)"),
    ("api=2,api=3", "api is given twice"),
    ("api=0", "api=0: the count must be between 1 and 8"),
    ("worker=9", "worker=9: the count must be between 1 and 8"),
])
def test_a_spec_that_cannot_run_says_why(spec: str, says: str) -> None:
    with pytest.raises(replicas.ReplicaError) as raised:
        replicas.parse(spec, processes=list(PROCFILE))
    assert str(raised.value).startswith(says)


def test_the_plan_gives_each_copy_its_port_and_tells_the_apis_every_rasa(tmp_path: Path) -> None:
    settings = _settings(port=8100, rasa_url="http://127.0.0.1:5105", actions_port=5155, demo_redis_port=6400,
                         data_dir=tmp_path)
    plan = replicas.plan(PROCFILE, {"api": 2, "rasa": 3, "worker": 2}, settings=settings, redis_password="p/w+")

    assert list(plan.commands) == ["redis", "api.1", "api.2", "rasa.1", "rasa.2", "rasa.3", "actions",
                                   "worker.1", "worker.2"]
    assert plan.commands["api.2"] == PROCFILE["api"] and plan.commands["worker.2"] == PROCFILE["worker"]
    assert plan.commands["redis"] == f"exec /usr/bin/redis-server {tmp_path / 'redis' / 'redis.conf'}"
    rasas = "http://127.0.0.1:5105,http://127.0.0.1:5106,http://127.0.0.1:5107"
    for i, name in enumerate(["api.1", "api.2"]):
        assert plan.envs[name] == {"DESKMATE_PORT": str(8100 + i), "DESKMATE_RASA_URLS": rasas,
                                   "DESKMATE_IMPROVE_RELOAD_URLS": rasas}
    lock_store = "redis://:p%2Fw%2B@127.0.0.1:6400/1"
    assert [plan.envs[f"rasa.{i}"] for i in (1, 2, 3)] == [
        {"DESKMATE_RASA_PORT": str(5105 + i), "DESKMATE_ACTIONS_URL": "http://127.0.0.1:5155/webhook",
         "DESKMATE_RASA_LOCK_STORE_URL": lock_store} for i in range(3)]  # one action server serves every Rasa
    assert plan.envs["actions"] == {"DESKMATE_ACTIONS_PORT": "5155", "DESKMATE_API_URL": "http://127.0.0.1:8100"}
    assert plan.envs["worker.1"] == plan.envs["worker.2"] == {}
    assert plan.ports == {"redis": 6400, "api.1": 8100, "api.2": 8101, "rasa.1": 5105, "rasa.2": 5106,
                          "rasa.3": 5107, "actions": 5155}
    assert plan.api_urls == ["http://127.0.0.1:8100", "http://127.0.0.1:8101"]


def test_several_action_servers_are_shared_round_robin_and_one_rasa_needs_no_redis(tmp_path: Path) -> None:
    settings = _settings(port=8000, data_dir=tmp_path, improve_reload_urls="http://rasa.example:5005")
    plan = replicas.plan(PROCFILE, {"api": 3, "actions": 2}, settings=settings)
    assert plan.redis is None and "redis" not in plan.commands
    assert plan.envs["rasa"] == {"DESKMATE_RASA_PORT": "5005", "DESKMATE_ACTIONS_URL": "http://127.0.0.1:5055/webhook"}
    assert [plan.envs[f"actions.{i}"]["DESKMATE_API_URL"] for i in (1, 2)] == ["http://127.0.0.1:8000",
                                                                                 "http://127.0.0.1:8001"]
    assert "DESKMATE_RASA_URLS" not in plan.envs["api.1"]  # one Rasa: DESKMATE_RASA_URL as before
    assert plan.summary() == ["api replicas: http://127.0.0.1:8000, http://127.0.0.1:8001, http://127.0.0.1:8002 "
                              "(the widget and the links use the first; send load to all)"]


def test_without_replicas_the_procfile_runs_as_before(tmp_path: Path) -> None:
    plan = replicas.plan(PROCFILE, {}, settings=_settings(data_dir=tmp_path))
    assert plan.commands == PROCFILE and plan.summary() == []
    assert plan.envs == {"api": {"DESKMATE_PORT": "8000"}, "worker": {},
                         "rasa": {"DESKMATE_RASA_PORT": "5005", "DESKMATE_ACTIONS_URL": "http://127.0.0.1:5055/webhook"},
                         "actions": {"DESKMATE_ACTIONS_PORT": "5055", "DESKMATE_API_URL": "http://127.0.0.1:8000"}}


def test_the_redis_config_listens_on_loopback_with_a_private_password(tmp_path: Path) -> None:
    redis = replicas.Redis(6401, tmp_path / "redis", "s3cret-value")
    replicas.write_redis_config(redis)
    text = redis.config.read_text()
    assert "bind 127.0.0.1\n" in text and "port 6401\n" in text and 'requirepass "s3cret-value"' in text
    assert 'save ""' in text and "appendonly no" in text
    assert redis.config.stat().st_mode & 0o077 == 0  # the password file is the owner's alone


def _cli_run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "api.cli", "run", *args], env=env, cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=120)


def test_deskmate_run_refuses_a_bad_spec_before_starting_anything(settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    done = _cli_run(["--replicas", "api=2,web=1"], run_env(settings, tmp_path))
    assert done.returncode == 2
    assert "deskmate run: --replicas: the Procfile has no process 'web'" in done.stderr
    assert "started" not in done.stdout and "database:" not in done.stdout


def test_deskmate_run_names_a_replica_port_that_is_taken(settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = run_env(settings, tmp_path, apis=2)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", int(env["DESKMATE_PORT"]) + 1))
        squatter.listen()
        done = _cli_run(["--replicas", "api=2"], env)
    assert done.returncode == 2
    assert f"already in use: api.2 (port {int(env['DESKMATE_PORT']) + 1})" in done.stderr


PROBE = """\
import os, signal, sys, time
from bot.lock_store import EnvLockStore
store = EnvLockStore()
me = os.environ["DESKMATE_RASA_PORT"]
deadline = time.monotonic() + 60
while True:  # redis starts beside us
    try:
        store.save_lock(store.create_lock("conversation-of-" + me))
        break
    except Exception as exc:
        if time.monotonic() > deadline or not hasattr(store, "red"):
            raise
        time.sleep(0.1)
keys = sorted(k.decode() for k in store.red.keys("*"))
print(f"probe {me}: {type(store).__name__} sees {keys}", flush=True)
signal.pause()
"""


@pytest.mark.skipif(not RASA_PYTHON.exists() or not Path(replicas.REDIS_SERVER).exists(),
                    reason="needs .venv-rasa and Debian's redis-server")
def test_two_rasa_servers_share_the_redis_the_run_starts_and_stopping_ends_every_process(settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Two stand-ins for Rasa (Rasa's own lock store code, as bot/endpoints.yml loads it) lock conversations in
    the Redis ``deskmate run --replicas rasa=2`` starts; SIGTERM then leaves no process of the run behind."""
    procfile = tmp_path / "Procfile"
    script = tmp_path / "probe.py"
    script.write_text(PROBE)
    procfile.write_text(f"rasa: PYTHONPATH=. {RASA_PYTHON} {script}\n")
    env = run_env(settings, tmp_path, rasas=2)
    run = DeskmateRun(["--procfile", str(procfile), "--replicas", "rasa=2"], env=env)
    try:
        base = int(env["DESKMATE_RASA_URL"].rsplit(":", 1)[1])
        first = run.wait_for(rf"probe {base}: (\w+) sees (.*)$", timeout=240)
        second = run.wait_for(rf"probe {base + 1}: (\w+) sees (.*)$", timeout=240)
        started = run.started()
        members = group_members(set(started.values()))
    finally:
        code = run.stop()

    assert set(started) == {"redis", "rasa.1", "rasa.2"}
    assert first.group(1) == second.group(1) == "RedisLockStore"
    seen = [set(ast.literal_eval(probe.group(2))) for probe in (first, second)]
    both = {f"deskmate:lock:conversation-of-{base}", f"deskmate:lock:conversation-of-{base + 1}"}
    assert any(keys >= both for keys in seen)  # whichever locked last saw the other's lock: one Redis
    assert "rasa lock store: redis at 127.0.0.1:" in run.output
    password = (settings.data_dir / "redis.password").read_text().strip()
    assert password not in run.output  # the secret is never printed
    assert code == 0, run.output
    assert members >= set(started.values())
    assert [pid for pid in members if alive(pid)] == []  # every replica, Redis and their children are gone
