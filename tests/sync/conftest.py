"""Fixtures of the sync tests: a fake GLPI on a real port, worker settings for it, a connector pointing at it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from fakes.glpi_server import FakeGlpiServer
from fakes.triage import drain, worker_settings
from pydantic import SecretStr

from api.integrations.glpi.mapping import GlpiConfig
from api.integrations.sync import connectors
from api.integrations.sync.connectors import Runtime
from api.integrations.sync.models import ConnectorIn
from api.integrations.sync.settings import SyncSettings
from api.settings import Settings


@pytest.fixture
def glpi() -> Iterator[FakeGlpiServer]:
    with FakeGlpiServer() as server:
        yield server


@pytest.fixture
def sync_settings(settings: Settings) -> Settings:
    """The worker's settings: loopback allowed (the fake), a long first backoff (a retry waits for the test)."""
    return worker_settings(settings, sync=SyncSettings(backoff_base_s=3600, timeout_s=2.0, page_size=3))


async def _connector(conn, sync_settings: Settings, make_actor, **fields) -> AsyncIterator[Runtime]:
    """An enabled GLPI connector to the fake, deleted after the test (so other tests' tickets don't sync). Triage
    left waiting by earlier tests runs first, without it."""
    await drain(sync_settings, queues=["triage"])
    admin = await make_actor("admin")
    name = f"glpi-{uuid.uuid4().hex[:8]}"
    await connectors.create(conn, settings=sync_settings, actor_id=admin.user.id, data=ConnectorIn(
        name=name, **fields))
    yield await connectors.runtime(conn, sync_settings, name=name)
    await conn.execute("DELETE FROM sync_connectors WHERE name = %s", (name,))


@pytest.fixture
async def connector(conn, glpi: FakeGlpiServer, sync_settings: Settings, make_actor) -> AsyncIterator[Runtime]:
    """A connector to the fake's legacy REST API."""
    async for made in _connector(conn, sync_settings, make_actor, base_url=glpi.url,
                                 user_token=SecretStr(glpi.fake.user_token),
                                 app_token=SecretStr(glpi.fake.app_token or "")):
        yield made


@pytest.fixture
async def hl_connector(conn, glpi: FakeGlpiServer, sync_settings: Settings, make_actor) -> AsyncIterator[Runtime]:
    """A connector to the fake's High-Level API (``config.api: hl``, OAuth2)."""
    hl = glpi.fake.hl
    async for made in _connector(conn, sync_settings, make_actor, base_url=glpi.hl_url,
                                 config=GlpiConfig(api="hl", client_id=hl.client_id, username=hl.username),
                                 client_secret=SecretStr(hl.clients[hl.client_id]),
                                 password=SecretStr(hl.passwords[hl.username])):
        yield made
