"""The backend as the chart runs it, on this machine: only the files the image's runtime stage copies (laid out by
tests/deploy/test_images.image_tree), the image's environment, the chart's ConfigMap and a Secret of the
documented keys, with that tree and the virtualenv mounted read-only (the pods' readOnlyRootFilesystem) so that
only DESKMATE_DATA_DIR and /tmp can be written. The api becomes ready (its intent hints and embedding model
load without writing beside the code), `deskmate migrate` finds nothing to do, the worker runs the due jobs.

Each process runs in a private mount namespace (`unshare -m`, as root) where the read-only mounts exist; nothing
outside it changes.
"""
from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet

from api.dev import stack
from tests.conftest import free_port
from tests.deploy.conftest import find, read_only, render
from tests.deploy.test_images import final, image_tree, values
from tests.deploy.test_secrets import documented_secret_keys

VENV = Path(sys.prefix).resolve()


def image_env(data_dir: Path) -> dict[str, str]:
    """The backend image's ENV (Dockerfile, runtime stage), with its data directory moved to ``data_dir``."""
    env: dict[str, str] = {}
    for line in values(final("Dockerfile"), "ENV"):
        env |= dict(pair.split("=", 1) for pair in line.split())
    env["PATH"] = f"{VENV / 'bin'}:{os.environ['PATH']}"
    return {k: v.replace("/var/lib/deskmate", str(data_dir)) for k, v in env.items()}


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """/app of the backend image: what its runtime stage copies."""
    return image_tree("Dockerfile", tmp_path_factory.mktemp("image"))


@pytest.fixture(scope="module")
def pod_env(app: Path, database_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    data_dir = tmp_path_factory.mktemp("deskmate-data")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DESKMATE_") and k != "DATABASE_URL"}
    env |= image_env(data_dir)
    env |= find(render(), "ConfigMap", "deskmate-config")["data"]
    for key in documented_secret_keys():
        env[key] = Fernet.generate_key().decode() if key == "DESKMATE_ENCRYPTION_KEYS" else secrets.token_urlsafe(48)
    env |= {"DATABASE_URL": database_url, "DESKMATE_HOST": "127.0.0.1", "DESKMATE_PORT": str(free_port()),
            "DESKMATE_LOG_LEVEL": "WARNING", "XDG_RUNTIME_DIR": str(data_dir), "PYTHONPATH": str(app)}
    assert env["DESKMATE_ENV"] == "production" and env["DESKMATE_DATA_DIR"] == str(data_dir)
    return env


def ro(app: Path, *command: str) -> list[str]:
    return read_only([app, VENV], *command)


def test_the_mounts_are_read_only(app: Path, pod_env: dict[str, str]) -> None:
    """The premise: the image's code is imported; writing beside it or in the virtualenv fails; the data dir works."""
    probe = ("import pathlib, sys, api\n"
             "print(api.__file__)\n"
             "for d in sys.argv[1:]:\n"
             "    try:\n"
             "        (pathlib.Path(d) / '.deskmate-write-test').write_text('x'); print(d, 'writable')\n"
             "        (pathlib.Path(d) / '.deskmate-write-test').unlink()\n"
             "    except OSError as exc:\n"
             "        print(d, 'read-only' if exc.errno == 30 else exc)\n")
    out = subprocess.run(ro(app, sys.executable, "-c", probe, str(app / "bot" / "models"), str(VENV),
                            pod_env["DESKMATE_DATA_DIR"]), env=pod_env, cwd=app, capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert out == [str(app / "api" / "__init__.py"), f"{app / 'bot' / 'models'} read-only", f"{VENV} read-only",
                   f"{pod_env['DESKMATE_DATA_DIR']} writable"]


def test_migrate_runs_on_a_read_only_root(app: Path, pod_env: dict[str, str]) -> None:
    done = subprocess.run(ro(app, str(VENV / "bin" / "deskmate"), "migrate"), env=pod_env, cwd=app, capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.fixture(scope="module")
def api(app: Path, pod_env: dict[str, str]) -> Iterator[str]:
    proc = subprocess.Popen(ro(app, str(VENV / "bin" / "deskmate"), "serve"), env=pod_env, cwd=app)
    url = f"http://127.0.0.1:{pod_env['DESKMATE_PORT']}"
    try:
        stack.wait_until_ready(f"{url}/readyz", proc, timeout_s=300, what="the api on a read-only root")
        yield url
    finally:
        proc.terminate()
        proc.wait(30)


def test_the_api_gets_ready_on_a_read_only_root(api: str) -> None:
    assert httpx.get(f"{api}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{api}/readyz").json() == {"status": "ready"}  # database, migrations and the intent hints


def test_the_worker_runs_on_a_read_only_root(app: Path, pod_env: dict[str, str]) -> None:
    done = subprocess.run(ro(app, str(VENV / "bin" / "deskmate"), "worker", "--burst"), env=pod_env, cwd=app,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert not re.search(r"Read-only file system|Errno 30", done.stderr), done.stderr[-3000:]
