"""DESKMATE_METRICS_TOKEN: unset means /metrics is off; a short one is refused in production."""

from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError

from api.settings import Settings

PRODUCTION = {"env": "production", "secret_key": "x" * 40, "database_url": "postgresql://x/y", "assertion_key": "a" * 40,
              "rasa_channel_secret": "c" * 40, "actions_secret": "s" * 40, "_env_file": None}


def test_the_metrics_token_is_unset_by_default_and_never_shown():
    assert Settings(_env_file=None).metrics_token is None  # type: ignore[call-arg]
    configured = Settings(metrics_token="m" * 40, _env_file=None)  # type: ignore[call-arg]
    assert isinstance(configured.metrics_token, SecretStr) and "m" * 40 not in repr(configured)


def test_production_refuses_a_short_metrics_token():
    assert Settings(**PRODUCTION).metrics_token is None  # type: ignore[arg-type]
    assert Settings(**PRODUCTION, metrics_token="m" * 32).metrics_token is not None  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="DESKMATE_METRICS_TOKEN"):
        Settings(**PRODUCTION, metrics_token="changeme")  # type: ignore[arg-type]
