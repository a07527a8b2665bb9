"""Rasa and the action server as the chart runs them, on this machine: only the files Dockerfile.rasa copies (laid
out by tests/deploy/test_images.image_tree), the containers' args and environment from the rendered chart (Kubernetes' $(VAR) expansion done the same way), the Rasa image's ENV, the rendered
endpoints.yml, with the code, the model and the Rasa environment mounted read-only (readOnlyRootFilesystem), against
a real Redis lock store and the test PostgreSQL as tracker store.

What differs from a pod: the paths (/app and /etc/deskmate are temporary folders), loopback addresses
instead of the Services' names, and `--interface 127.0.0.1` (a pod listens on all of its addresses).
"""
from __future__ import annotations

import os
import re
import secrets
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.dev import embedded_pg, stack
from tests.conftest import free_port
from tests.deploy.conftest import REPO_ROOT, Redis, find, read_only, render, require
from tests.deploy.test_images import final, image_tree, values

RASA_VENV = REPO_ROOT / ".venv-rasa"
MODEL = REPO_ROOT / "bot" / "models" / "deskmate.tar.gz"
TRACKER_DB = "deskmate_deploy_rasa_pod"
SECRETS = ("DESKMATE_RASA_TOKEN", "DESKMATE_RASA_CHANNEL_SECRET", "DESKMATE_ACTIONS_SECRET", "DESKMATE_SERVICE_TOKEN")


@dataclass
class Pods:
    rasa: str
    actions: str
    env: dict[str, str]
    redis: Redis


def expand(arg: str, env: dict[str, str]) -> str:
    """Kubernetes' $(VAR) expansion in a container's args."""
    return re.sub(r"\$\((\w+)\)", lambda m: env[m.group(1)], arg)


def container_env(cont: dict[str, Any], secret: dict[str, str]) -> dict[str, str]:
    env = {}
    for item in cont.get("env", []):
        ref = item.get("valueFrom", {}).get("secretKeyRef")
        env[item["name"]] = secret[ref["key"]] if ref else item["value"]
    return env


def image_env(app: Path, home: Path) -> dict[str, str]:
    """Dockerfile.rasa's ENV for this machine: /app is ``app``, the virtualenv is .venv-rasa."""
    env: dict[str, str] = {}
    for line in values(final("Dockerfile.rasa"), "ENV"):
        env |= dict(pair.split("=", 1) for pair in line.split())
    env["PATH"] = f"{RASA_VENV.resolve() / 'bin'}:{os.environ['PATH']}"
    return {k: v.replace("/app", str(app)).replace("/home/deskmate", str(home)) for k, v in env.items()}


def redis_calls(redis: Redis, command: str) -> int:
    out = subprocess.run(["redis-cli", "-p", str(redis.port), "--no-auth-warning", "-a", redis.password, "INFO",
                          "commandstats"], capture_output=True, text=True, check=True).stdout
    found = re.search(rf"cmdstat_{command}:calls=(\d+)", out)
    return int(found.group(1)) if found else 0


@pytest.fixture(scope="module")
def pods(redis_server: Redis, pg_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pods]:
    require(f"{RASA_VENV}/bin/rasa or {MODEL} (scripts/rasa_env.sh, scripts/train_bot.sh)",
            (RASA_VENV / "bin" / "rasa").exists() and MODEL.exists())
    embedded_pg.drop_database(pg_server, TRACKER_DB)
    embedded_pg.ensure_database(pg_server, TRACKER_DB)
    tracker = stack.rasa_tracker_env(pg_server.replace("/postgres?", f"/{TRACKER_DB}?"))
    objects = render({
        "redis": {"enabled": False, "auth": True, "external": {"host": "127.0.0.1", "port": redis_server.port}},
        "trackerStore": {"host": tracker["DESKMATE_RASA_DB_HOST"], "port": int(tracker["DESKMATE_RASA_DB_PORT"]),
                         "database": tracker["DESKMATE_RASA_DB_NAME"], "user": tracker["DESKMATE_RASA_DB_USER"]}})
    rasa_port, actions_port = free_port(), free_port()
    etc, home = tmp_path_factory.mktemp("etc-deskmate"), tmp_path_factory.mktemp("home")
    app = image_tree("Dockerfile.rasa", tmp_path_factory.mktemp("image"))
    endpoints = find(objects, "ConfigMap", "deskmate-rasa-endpoints")["data"]["endpoints.yml"]
    (etc / "endpoints.yml").write_text(endpoints.replace("http://deskmate-actions:5055",
                                                         f"http://127.0.0.1:{actions_port}"))
    secret = {key: secrets.token_urlsafe(48) for key in SECRETS}
    secret |= {"DESKMATE_RASA_DB_PASSWORD": tracker["DESKMATE_RASA_DB_PASSWORD"],
               "DESKMATE_REDIS_PASSWORD": redis_server.password}
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DESKMATE_", "VIRTUAL_ENV", "PYTHON"))}
    base |= image_env(app, home)
    dirs = [app, RASA_VENV.resolve(), etc]
    started = []
    try:
        rasa = find(objects, "Deployment", "deskmate-rasa")["spec"]["template"]["spec"]["containers"][0]
        env = base | container_env(rasa, secret)
        paths = {"/app/": f"{app}/", "/etc/deskmate/": f"{etc}/", "5005": str(rasa_port)}
        args = [expand(a, env) for a in rasa["args"]]
        for old, new in paths.items():
            args = [a.replace(old, new, 1) if a.startswith(old) or a == old else a for a in args]
        started.append(subprocess.Popen(read_only(dirs, *args, "--interface", "127.0.0.1"), env=env, cwd=app))
        actions = find(objects, "Deployment", "deskmate-actions")["spec"]["template"]["spec"]["containers"][0]
        actions_env = base | container_env(actions, secret)
        args = [a.replace("0.0.0.0", "127.0.0.1").replace("5055", str(actions_port)) for a in actions["args"]]
        started.append(subprocess.Popen(read_only(dirs, *args), env=actions_env, cwd=app))
        rasa_url, actions_url = f"http://127.0.0.1:{rasa_port}", f"http://127.0.0.1:{actions_port}"
        stack.wait_until_ready(f"{actions_url}/health", started[1], timeout_s=120, what="the action server")
        stack.wait_until_ready(f"{rasa_url}/", started[0], timeout_s=600, what="Rasa")
        yield Pods(rasa_url, actions_url, env, redis_server)
    finally:
        for proc in started:
            proc.terminate()
        for proc in started:
            proc.wait(60)


def test_rasa_answers_a_turn_through_deskmate_s_channel(pods: Pods) -> None:
    sets_before = redis_calls(pods.redis, "set")
    answer = httpx.post(f"{pods.rasa}/webhooks/deskmate/webhook", timeout=120,
                        headers={"X-Deskmate-Channel-Secret": pods.env["DESKMATE_RASA_CHANNEL_SECRET"]},
                        json={"sender": f"deploy-{uuid.uuid4().hex[:8]}", "message": "hello"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["messages"], body
    assert body["intent"]["name"] == "greet"
    assert redis_calls(pods.redis, "set") > sets_before  # the turn took its lock in Redis


def test_rasa_refuses_a_turn_without_the_channel_secret(pods: Pods) -> None:
    answer = httpx.post(f"{pods.rasa}/webhooks/deskmate/webhook", json={"sender": "x", "message": "hello"})
    assert answer.status_code == 403


def test_rasa_s_http_api_takes_the_token_kubernetes_put_in_its_args(pods: Pods) -> None:
    assert httpx.get(f"{pods.rasa}/status").status_code in {401, 403}
    status = httpx.get(f"{pods.rasa}/status", params={"token": pods.env["DESKMATE_RASA_TOKEN"]})
    assert status.status_code == 200 and status.json()["model_file"].endswith("deskmate.tar.gz")


def test_the_action_server_answers_only_with_its_secret(pods: Pods) -> None:
    assert httpx.get(f"{pods.actions}/health").status_code == 200
    call = {"next_action": "action_answer_problem", "sender_id": "x", "tracker": {}, "domain": {}}
    assert httpx.post(f"{pods.actions}/webhook", json=call).status_code == 403
