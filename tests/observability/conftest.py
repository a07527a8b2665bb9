"""Observability fixtures: /metrics with a token, a parsed scrape, the fake Rasa behind the app."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator

import pytest
from fakes.rasa_server import FakeRasa, FakeRasaServer
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from api.chat.rasa import RasaClient, channel_secret
from api.settings import Settings


class Scrape(dict):
    """One /metrics answer: ``{(series name, frozenset(labels)): value}``."""

    def value(self, name: str, **labels: str) -> float:
        return float(self.get((name, frozenset(labels.items())), 0.0))

    def labels_of(self, name: str) -> list[dict[str, str]]:
        return [dict(labels) for series, labels in self if series == name]


@pytest.fixture
def metrics_token(app: FastAPI, settings: Settings) -> Iterator[str]:
    """The app with DESKMATE_METRICS_TOKEN set, for this test."""
    token = secrets.token_urlsafe(32)
    app.state.settings = settings.model_copy(update={"metrics_token": SecretStr(token)})
    yield token
    app.state.settings = settings


@pytest.fixture
def scrape(client, metrics_token: str):
    async def read() -> Scrape:
        r = await client.get("/metrics", headers={"Authorization": f"Bearer {metrics_token}"})
        assert r.status_code == 200, r.text
        found = Scrape()
        for family in text_string_to_metric_families(r.text):
            for sample in family.samples:
                found[(sample.name, frozenset(sample.labels.items()))] = sample.value
        return found

    return read


@pytest.fixture(scope="session")
def rasa_server(settings: Settings) -> Iterator[FakeRasa]:
    with FakeRasaServer(secret=channel_secret(settings)) as fake:
        yield fake


@pytest.fixture
async def rasa(app: FastAPI, rasa_server: FakeRasa) -> AsyncIterator[FakeRasa]:
    """The app's Rasa client pointed at the fake Rasa server (a real HTTP server speaking deskmate's channel)."""
    original = app.state.rasa
    app.state.rasa = RasaClient(rasa_server.url, channel_secret=rasa_server.secret)
    rasa_server.received.clear()
    yield rasa_server
    await app.state.rasa.aclose()
    app.state.rasa = original
