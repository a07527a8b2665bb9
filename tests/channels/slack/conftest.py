"""Slack fixtures: the app with Slack on, against a fake Slack Web API and the fake Rasa server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fakes.rasa_server import FakeRasa, FakeRasaServer
from fakes.slack_server import TEAM, FakeSlack, FakeSlackServer
from fastapi import FastAPI
from pydantic import SecretStr
from slack_app_support import SIGNING_SECRET, Slack

from api.app import create_app
from api.channels.slack.settings import SlackSettings
from api.chat.rasa import channel_secret
from api.settings import Settings


@pytest.fixture(scope="session")
def fake_slack() -> Iterator[FakeSlack]:
    with FakeSlackServer() as fake:
        yield fake


@pytest.fixture(scope="session")
def slack_rasa(settings: Settings) -> Iterator[FakeRasa]:
    with FakeRasaServer(secret=channel_secret(settings)) as fake:
        yield fake


@pytest.fixture(scope="session")
def slack_settings(settings: Settings, fake_slack: FakeSlack, slack_rasa: FakeRasa) -> Settings:
    slack = SlackSettings(bot_token=SecretStr(fake_slack.token), signing_secret=SecretStr(SIGNING_SECRET),
                          team_id=TEAM, api_url=fake_slack.url, _env_file=None)  # type: ignore[call-arg]
    return settings.model_copy(update={"slack": slack, "rasa_url": slack_rasa.url})


@pytest.fixture(scope="session")
async def slack_app(slack_settings: Settings) -> AsyncIterator[tuple[FastAPI, Any]]:
    application = create_app(slack_settings)
    async with LifespanManager(application) as manager:
        yield application, manager.app


@pytest.fixture(scope="session")
async def slack_http(slack_app: tuple[FastAPI, Any]) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=slack_app[1]), base_url="http://test") as c:
        yield c


@pytest.fixture
def slack(slack_http: httpx.AsyncClient, fake_slack: FakeSlack, slack_rasa: FakeRasa, slack_settings: Settings) -> Slack:
    fake_slack.missing_channels.clear()
    return Slack(slack_http, fake_slack, slack_rasa, slack_settings)
