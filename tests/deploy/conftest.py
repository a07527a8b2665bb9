"""The Helm chart (deploy/helm/deskmate) rendered offline, by Helm's own Go engine.

helm-python-sdk binds Helm's Go SDK (v4) with ctypes: the same template engine, functions and hooks as
`helm template`, with no helm binary and no cluster. Each render is a list of the Kubernetes objects it made.
"""
from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml

from tests.conftest import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART = REPO_ROOT / "deploy" / "helm" / "deskmate"
RELEASE = "deskmate"
NAMESPACE = "deskmate"
COMPONENTS = ("api", "worker", "rasa", "actions")

Objects = list[dict[str, Any]]


def render(values: dict[str, Any] | None = None, *, release: str = RELEASE) -> Objects:
    """Every object the chart renders with these values (over values.yaml), in template order."""
    with helm.Chart.load(str(CHART)) as chart:
        files = chart.render(values or {}, name=release, namespace=NAMESPACE)
    objects = []
    for path, text in sorted(files.items()):
        if path.endswith("NOTES.txt"):
            continue
        objects += [doc for doc in yaml.safe_load_all(text) if doc]
    return objects


def production_values() -> dict[str, Any]:
    return yaml.safe_load((CHART / "values-production.yaml").read_text())


def find(objects: Objects, kind: str, name: str) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind} {name}: {len(found)} found among {[(o['kind'], o['metadata']['name']) for o in objects]}"
    return found[0]


def of_kind(objects: Objects, kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


@pytest.fixture(scope="session")
def default_objects() -> Objects:
    return render()


@pytest.fixture(scope="session")
def production_objects() -> Objects:
    return render(production_values())


def require(what: str, present: bool) -> None:
    if present:
        return
    if os.environ.get("DESKMATE_REQUIRE_RASA"):
        pytest.fail(f"DESKMATE_REQUIRE_RASA is set but {what} is missing")
    pytest.skip(f"{what} is missing")


@dataclass
class Redis:
    port: int
    password: str


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Redis]:
    """A real redis-server (Debian's) on loopback with a password, no persistence."""
    binary = shutil.which("redis-server")
    require("redis-server (apt-get install redis-server; `make debs`)", binary is not None)
    assert binary is not None
    port, password = free_port(), secrets.token_urlsafe(24)
    proc = subprocess.Popen([binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no",
                             "--requirepass", password, "--dir", str(tmp_path_factory.mktemp("redis"))],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:  # wait for the server to say it is ready (or to exit)
        seen.append(line)
        if "Ready to accept connections" in line:
            break
    else:
        pytest.fail("redis-server exited: " + "".join(seen))
    try:
        yield Redis(port, password)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


READ_ONLY = 'while [ "$1" != -- ]; do mount --bind -o ro "$1" "$1" || exit 97; shift; done; shift; exec "$@"'


def read_only(dirs: list[Path], *command: str) -> list[str]:
    """``command`` in a private mount namespace (``unshare -m``, as root) where ``dirs`` are mounted read-only, as
    a pod's readOnlyRootFilesystem has them; nothing changes outside the namespace."""
    if shutil.which("unshare") is None:
        pytest.skip("unshare (util-linux) is missing")
    return ["unshare", "-m", "--propagation", "private", "sh", "-c", READ_ONLY, "sh", *map(str, sorted(set(dirs))),
            "--", *command]
