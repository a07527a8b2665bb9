"""The Secret docs/deploy.md tells an operator to create is what the chart and the code need.

The example `kubectl create secret` holds every key the chart requires; the api's settings, built from that
Secret and the chart's ConfigMap alone, pass the production checks; and every secret setting of the code is in
docs/deploy.md's table, so a new one cannot be forgotten there.
"""
from __future__ import annotations

import os
import re
import secrets
import typing
from typing import Any

import pytest
from cryptography.fernet import Fernet
from pydantic import BaseModel, SecretStr
from pydantic_settings import BaseSettings

from api.settings import Settings
from tests.deploy.conftest import REPO_ROOT, find, render

DOCS = (REPO_ROOT / "docs" / "deploy.md").read_text()
MADE_AFTER_INSTALL = {"DESKMATE_SERVICE_TOKEN"}  # issued by the running api (docs/deploy.md, step 4)


def documented_secret_keys() -> set[str]:
    return set(re.findall(r"--from-literal=(\w+)=", DOCS))


def required_refs(objects: list[dict[str, Any]]) -> set[str]:
    keys = set()
    for obj in objects:
        if obj["kind"] not in {"Deployment", "Job"}:
            continue
        for cont in obj["spec"]["template"]["spec"]["containers"]:
            for env in cont.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref and not ref.get("optional"):
                    keys.add(ref["key"])
    return keys


def secret_settings(model: type[BaseModel], prefix: str) -> set[str]:
    """The environment variables of every SecretStr setting, nested integration settings included."""
    names = set()
    for field_name, info in model.model_fields.items():
        kinds = typing.get_args(info.annotation) or (info.annotation,)
        alias = info.validation_alias
        if SecretStr in kinds:
            names.add(str(alias.choices[0]) if alias is not None and hasattr(alias, "choices")
                      else (prefix + field_name).upper())
        elif isinstance(info.annotation, type) and issubclass(info.annotation, BaseSettings):
            names |= secret_settings(info.annotation, str(info.annotation.model_config.get("env_prefix", "")))
    return names


def test_the_documented_secret_holds_every_key_the_chart_requires() -> None:
    required = required_refs(render())
    assert "DATABASE_URL" in required
    assert required - MADE_AFTER_INSTALL <= documented_secret_keys()
    # with a Redis password, one key more, in the docs' table
    assert required_refs(render({"redis": {"auth": True}})) - required == {"DESKMATE_REDIS_PASSWORD"}
    assert "`DESKMATE_REDIS_PASSWORD`" in DOCS


def test_every_secret_setting_is_in_the_deploy_docs() -> None:
    names = secret_settings(Settings, "DESKMATE_")
    assert {"DATABASE_URL", "DESKMATE_SECRET_KEY", "DESKMATE_SMTP_PASSWORD", "DESKMATE_SLACK_BOT_TOKEN"} <= names
    missing = sorted(n for n in names if f"`{n}`" not in DOCS)
    assert not missing, f"docs/deploy.md's Secret table lacks {missing}"


@pytest.mark.parametrize("component", ["api", "worker", "migrations"])
def test_the_backend_starts_in_production_on_the_documented_secret(monkeypatch: pytest.MonkeyPatch,
                                                                  component: str) -> None:
    """Settings from exactly what the pod gets (the ConfigMap, unless it is the Job, and the documented keys)."""
    objects = render()
    env: dict[str, str] = {}
    if component != "migrations":
        env |= find(objects, "ConfigMap", "deskmate-config")["data"]
        workload = find(objects, "Deployment", f"deskmate-{component}")
    else:
        workload = find(objects, "Job", "deskmate-migrations")
    env |= {e["name"]: e["value"] for e in workload["spec"]["template"]["spec"]["containers"][0].get("env", [])
            if "value" in e}
    for key in documented_secret_keys():
        env[key] = Fernet.generate_key().decode() if key == "DESKMATE_ENCRYPTION_KEYS" else secrets.token_urlsafe(48)
    env["DATABASE_URL"] = "postgresql://deskmate:pw@db.internal:5432/deskmate"
    for name in [n for n in os.environ if n.startswith("DESKMATE_") or n == "DATABASE_URL"]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.env == "production"
    assert settings.database_url is not None
    if component != "migrations":
        assert settings.rasa_url == "http://deskmate-rasa:5005" and settings.auto_migrate is False
        assert settings.host == "0.0.0.0"


def test_without_a_required_key_the_backend_refuses_to_start(monkeypatch: pytest.MonkeyPatch) -> None:
    """The check above can fail: the same environment less the actions secret is refused."""
    for name in [n for n in os.environ if n.startswith("DESKMATE_") or n == "DATABASE_URL"]:
        monkeypatch.delenv(name)
    env = dict(find(render(), "ConfigMap", "deskmate-config")["data"])
    for key in documented_secret_keys() - {"DESKMATE_ACTIONS_SECRET"}:
        env[key] = Fernet.generate_key().decode() if key == "DESKMATE_ENCRYPTION_KEYS" else secrets.token_urlsafe(48)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match="DESKMATE_ACTIONS_SECRET"):
        Settings(_env_file=None)  # type: ignore[call-arg]


def test_every_component_s_secret_refs_name_the_one_secret() -> None:
    for obj in render({"secret": {"name": "helpdesk-keys"}}):
        if obj["kind"] in {"Deployment", "Job"}:
            for cont in obj["spec"]["template"]["spec"]["containers"]:
                for env in cont.get("env", []):
                    if "secretKeyRef" in env.get("valueFrom", {}):
                        assert env["valueFrom"]["secretKeyRef"]["name"] == "helpdesk-keys"
                for source in cont.get("envFrom", []):
                    if "secretRef" in source:
                        assert source["secretRef"]["name"] == "helpdesk-keys"
