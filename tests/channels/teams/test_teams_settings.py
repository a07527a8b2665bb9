"""DESKMATE_TEAMS_*: off unless app id and secret are set, the token endpoint, tenants, the production guard."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from api.channels.teams.settings import TeamsSettings
from api.settings import Settings

PRODUCTION = {"env": "production", "secret_key": "x" * 40, "database_url": "postgresql://x/y", "assertion_key": "a" * 40,
              "rasa_channel_secret": "c" * 40, "actions_secret": "s" * 40, "_env_file": None}


def test_teams_is_off_until_app_id_and_secret_are_set(monkeypatch):
    assert not TeamsSettings(_env_file=None).configured  # type: ignore[call-arg]
    monkeypatch.setenv("DESKMATE_TEAMS_APP_ID", "app-1")
    assert not TeamsSettings(_env_file=None).configured  # type: ignore[call-arg]
    monkeypatch.setenv("DESKMATE_TEAMS_CLIENT_SECRET", "s3cret-value")
    monkeypatch.setenv("DESKMATE_TEAMS_ALLOWED_TENANTS", "t-1, T-2")
    configured = TeamsSettings(_env_file=None)  # type: ignore[call-arg]
    assert configured.configured and "s3cret-value" not in repr(configured)
    assert configured.tenant_allowed("t-2") and not configured.tenant_allowed("t-3")
    assert not configured.tenant_allowed(None)


def test_the_token_endpoint_follows_the_tenant():
    multi = TeamsSettings(_env_file=None)  # type: ignore[call-arg]
    single = TeamsSettings(tenant_id="t-1", _env_file=None)  # type: ignore[call-arg]
    assert multi.token_endpoint == "https://login.microsoftonline.com/botframework.com/oauth2/v2.0/token"
    assert single.token_endpoint == "https://login.microsoftonline.com/t-1/oauth2/v2.0/token"
    assert single.tenant_allowed("T-1") and not single.tenant_allowed("t-2") and multi.tenant_allowed("any")


def test_production_refuses_loopback_service_urls():
    assert not Settings(**PRODUCTION).teams.allow_loopback  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="DESKMATE_TEAMS_ALLOW_LOOPBACK"):
        Settings(**PRODUCTION, teams=TeamsSettings(allow_loopback=True, _env_file=None))  # type: ignore[arg-type, call-arg]
