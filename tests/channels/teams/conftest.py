"""Teams fixtures: the fake Bot Framework (OpenID metadata, JWKS, token endpoint, Bot Connector) and the app
switched to a Teams configuration that trusts it, with a fake Rasa over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest
from fakes.bot_framework import FakeBotFramework, FakeBotFrameworkServer
from fakes.rasa_server import FakeRasa, FakeRasaServer

from api.channels.teams.service import TeamsChannel
from api.chat.rasa import RasaClient, channel_secret
from api.settings import Settings


@dataclass
class Teams:
    channel: TeamsChannel
    framework: FakeBotFramework
    rasa: FakeRasa
    settings: Settings


@pytest.fixture
def bot_framework() -> Iterator[FakeBotFramework]:
    with FakeBotFrameworkServer() as fake:
        yield fake


@pytest.fixture
def teams_settings(settings: Settings, bot_framework: FakeBotFramework) -> Settings:
    """The test settings with Teams configured against the fake (loopback serviceUrls allowed, as only tests do)."""
    return settings.model_copy(update={"teams": bot_framework.teams_settings()})


@pytest.fixture
async def teams(app, settings: Settings, teams_settings: Settings, bot_framework: FakeBotFramework
                ) -> AsyncIterator[Teams]:
    """The session's app with Teams switched on for one test (and Rasa faked); restored afterwards."""
    with FakeRasaServer(secret=channel_secret(settings)) as rasa:
        saved = app.state.settings, getattr(app.state, "teams", None), app.state.rasa
        channel = TeamsChannel(teams_settings.teams)
        app.state.settings, app.state.teams = teams_settings, channel
        app.state.rasa = RasaClient(rasa.url, channel_secret=rasa.secret)
        try:
            yield Teams(channel, bot_framework, rasa, teams_settings)
        finally:
            await channel.aclose()
            await app.state.rasa.aclose()
            app.state.settings, app.state.teams, app.state.rasa = saved
