"""The demo directory `deskmate run` starts (api/dev/directory.py): a real slapd under the data dir, seeded once from
the demo organisation, its service password generated once and handed to the api and worker encrypted."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator

import pytest
import yaml
from fakes.slapd_server import ensure_slapd, free_port
from ldap3 import Connection, Server

from api.dev import directory
from api.integrations.ldap import connect, demo
from api.settings import Settings

EXTRA = yaml.safe_load((demo.DEMO_DIR / "directory.yml").read_text())
JORDAN = "uid=jordan.blake,ou=people," + EXTRA["suffix"]  # seeded locked
SAM = "uid=sam.lee,ou=people," + EXTRA["suffix"]


def _bind(url: str, dn: str, password: str) -> bool:
    conn = Connection(Server(url), user=dn, password=password)
    try:
        return bool(conn.bind())
    finally:
        conn.unbind()


@pytest.fixture
def demo_settings(tmp_path, monkeypatch) -> Iterator[Settings]:
    ensure_slapd()
    monkeypatch.delenv("DESKMATE_LDAP_URL", raising=False)
    yield Settings(data_dir=tmp_path, demo_ldap_port=free_port(), _env_file=None)  # type: ignore[call-arg]


def _wired(settings: Settings, env: dict[str, str], monkeypatch) -> Settings:  # type: ignore[no-untyped-def]
    """The settings the api and the worker read, with the environment `deskmate run` gives them."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings(data_dir=settings.data_dir, _env_file=None)  # type: ignore[call-arg]


async def test_the_demo_directory_is_seeded_once_and_the_connector_gets_its_settings(demo_settings, monkeypatch):
    first = directory.start(demo_settings)
    assert first is not None
    try:
        wired = _wired(demo_settings, first.env, monkeypatch)
        ldap = connect.directory(wired)
        jordan = await ldap.find_user(username="jordan.blake")
        assert jordan is not None and jordan.locked and jordan.mobile == EXTRA["mobiles"][jordan.email]
        await ldap.unlock(jordan, idempotency_key="demo-test")
        await ldap.aclose()
        assert _bind(first.url, SAM, EXTRA["password"]) and not _bind(first.url, SAM, "wrong")
    finally:
        directory.stop_slapd(first.pid)
    secret_file = demo_settings.data_dir / "slapd" / "service.secret"
    password = secret_file.read_text().strip()

    second = directory.start(demo_settings)
    assert second is not None
    try:
        again = connect.directory(_wired(demo_settings, second.env, monkeypatch))
        jordan = await again.find_user(username="jordan.blake")
        await again.aclose()
    finally:
        directory.stop_slapd(second.pid)

    assert first.env["DESKMATE_LDAP_URL"] == f"ldap://127.0.0.1:{demo_settings.demo_ldap_port}"
    assert password not in str(first.env) and oct(secret_file.stat().st_mode & 0o777) == "0o600"
    assert connect.bind_password(wired).get_secret_value() == password  # type: ignore[union-attr]
    assert jordan is not None and not jordan.locked, "a second start must keep the data, not seed again"
    assert secret_file.read_text().strip() == password
    assert not (demo_settings.data_dir / "slapd" / "seed.ldif").exists()


def test_no_demo_directory_when_one_is_configured(tmp_path, monkeypatch):
    monkeypatch.setenv("DESKMATE_LDAP_URL", "ldap://directory.example.com")
    settings = Settings(data_dir=tmp_path, _env_file=None)  # type: ignore[call-arg]

    assert directory.start(settings) is None
    assert not (tmp_path / "slapd").exists()


def test_without_slapd_the_log_says_workflows_have_no_directory(demo_settings, monkeypatch, tmp_path, caplog):
    monkeypatch.setattr(directory, "SLAPD", tmp_path / "no-slapd")
    with caplog.at_level(logging.WARNING, logger="api.dev.directory"):
        assert directory.start(demo_settings) is None
    assert "workflows have no directory" in caplog.text


def test_a_taken_port_is_a_clear_error_naming_the_setting_to_change(demo_settings):
    with socket.create_server(("127.0.0.1", demo_settings.demo_ldap_port)):
        with pytest.raises(directory.SlapdError, match=f"port {demo_settings.demo_ldap_port} is already in use.*"
                                                        "DESKMATE_DEMO_LDAP_PORT"):
            directory.start(demo_settings)
    assert not (demo_settings.data_dir / "slapd" / "slapd.pid").exists()
