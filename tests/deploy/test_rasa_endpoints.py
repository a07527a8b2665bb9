"""The chart's Rasa endpoints.yml, read by Rasa itself and pointed at a real Redis and the test PostgreSQL.

Two lock stores made from it (two Rasa replicas behind one Service) take turns on one conversation: the second
waits in Redis until the first lets go, which keeps a conversation's turns in order whichever replica gets them.
A wrong Redis password is refused, and two tracker stores share one conversation through PostgreSQL.
"""
from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from api.dev import embedded_pg, stack
from tests.deploy.conftest import REPO_ROOT, Redis, find, render, require

RASA_PYTHON = REPO_ROOT / ".venv-rasa" / "bin" / "python"
PROBE = Path(__file__).with_name("rasa_endpoints_probe.py")
TRACKER_DB = "deskmate_deploy_tracker"


def rendered_endpoints(values: dict[str, Any], into: Path) -> Path:
    data = find(render(values), "ConfigMap", "deskmate-rasa-endpoints")["data"]["endpoints.yml"]
    path = into / "endpoints.yml"
    path.write_text(data)
    return path


@pytest.fixture(scope="module")
def probe_result(redis_server: Redis, pg_server: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    require(f"the Rasa environment {RASA_PYTHON} (scripts/rasa_env.sh)", RASA_PYTHON.exists())
    embedded_pg.drop_database(pg_server, TRACKER_DB)
    embedded_pg.ensure_database(pg_server, TRACKER_DB)
    tracker = stack.rasa_tracker_env(pg_server.replace("/postgres?", f"/{TRACKER_DB}?"))
    values = {
        "redis": {"enabled": False, "auth": True, "db": 3, "keyPrefix": "deskmatetest",
                  "external": {"host": "127.0.0.1", "port": redis_server.port}},
        "trackerStore": {"host": tracker["DESKMATE_RASA_DB_HOST"], "port": int(tracker["DESKMATE_RASA_DB_PORT"]),
                         "database": tracker["DESKMATE_RASA_DB_NAME"], "user": tracker["DESKMATE_RASA_DB_USER"]},
    }
    path = rendered_endpoints(values, tmp_path_factory.mktemp("endpoints"))
    env = {**os.environ, "DESKMATE_REDIS_PASSWORD": redis_server.password, "DESKMATE_ACTIONS_SECRET": "x" * 40,
           "DESKMATE_RASA_DB_PASSWORD": tracker["DESKMATE_RASA_DB_PASSWORD"], "RASA_TELEMETRY_ENABLED": "false",
           "TF_CPP_MIN_LOG_LEVEL": "2", "SQLALCHEMY_SILENCE_UBER_WARNING": "1", "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run([str(RASA_PYTHON), str(PROBE), str(path), f"deploy-{uuid.uuid4().hex[:8]}"], env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["endpoints"] = yaml.safe_load(path.read_text())
    return result


def test_rasa_reads_the_lock_store_the_chart_renders(probe_result: dict[str, Any], redis_server: Redis) -> None:
    assert probe_result["lock_store"] == "RedisLockStore"
    assert (probe_result["host"], probe_result["port"], probe_result["db"]) == ("127.0.0.1", redis_server.port, 3)
    assert probe_result["key_prefix"].startswith("deskmatetest:")
    assert probe_result["authenticated"] is True
    assert redis_server.password not in json.dumps(probe_result["endpoints"])  # the password stays in the Secret


def test_two_replicas_take_turns_on_one_conversation(probe_result: dict[str, Any]) -> None:
    assert probe_result["turns"] == ["replica 1 in", "replica 2 waiting", "replica 1 out", "replica 2 in"]
    assert probe_result["lock_left"] == 0  # both let go: nothing stays locked


def test_a_wrong_redis_password_is_refused(probe_result: dict[str, Any]) -> None:
    assert probe_result["wrong_password"] == "refused"


def test_two_replicas_share_the_conversation_through_the_tracker_store(probe_result: dict[str, Any]) -> None:
    # bot/tracker_store.py: Rasa's SQL store that compacts long sessions (docs/chat.md)
    assert probe_result["tracker_store"] == "CompactingSQLTrackerStore" and probe_result["sql"] is True
    assert probe_result["read_back"] == ["my vpn is down"]
