"""CSAT fixtures: the fake Slack Web API and the fake Bot Connector, with settings that point at them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fakes.bot_framework import FakeBotFramework, FakeBotFrameworkServer
from fakes.slack_server import FakeSlack, FakeSlackServer
from pydantic import SecretStr

from api.channels.slack.settings import SlackSettings
from api.settings import Settings


@pytest.fixture(scope="session")
def csat_slack() -> Iterator[FakeSlack]:
    with FakeSlackServer() as fake:
        yield fake


@pytest.fixture
def csat_slack_settings(settings: Settings, csat_slack: FakeSlack) -> Settings:
    slack = SlackSettings(bot_token=SecretStr(csat_slack.token), signing_secret=SecretStr("s" * 32), team_id="T1",
                          api_url=csat_slack.url, _env_file=None)  # type: ignore[call-arg]
    return settings.model_copy(update={"slack": slack})


@pytest.fixture
def csat_framework() -> Iterator[FakeBotFramework]:
    with FakeBotFrameworkServer() as fake:
        yield fake


@pytest.fixture
def csat_teams_settings(settings: Settings, csat_framework: FakeBotFramework) -> Settings:
    """Teams configured against the fake Bot Connector (loopback serviceUrls allowed, as only tests do)."""
    return settings.model_copy(update={"teams": csat_framework.teams_settings()})
