"""The Helm chart (deploy/helm/deskmate) rendered offline, by Helm's own Go engine.

helm-python-sdk binds Helm's Go SDK (v4) with ctypes: the same template engine, functions and hooks as
`helm template`, with no helm binary and no cluster. Each render is a list of the Kubernetes objects it made.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml

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
