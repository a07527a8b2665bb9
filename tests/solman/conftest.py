"""Fixtures of the SolMan tests: a fake SAP Gateway on a real port, worker settings, a connector pointing at it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from fakes.solman_server import FakeSolman, FakeSolmanServer
from fakes.triage import drain, worker_settings
from pydantic import SecretStr

from api.integrations.solman.mapping import SolmanCategory, SolmanSyncConfig
from api.integrations.sync import connectors
from api.integrations.sync.connectors import Runtime
from api.integrations.sync.models import SolmanConnectorIn
from api.integrations.sync.settings import SyncSettings
from api.settings import Settings


@pytest.fixture
def gateway() -> Iterator[FakeSolmanServer]:
    with FakeSolmanServer(FakeSolman(page_size=3)) as server:
        yield server


@pytest.fixture
def solman_settings(settings: Settings) -> Settings:
    """The worker's settings: loopback allowed (the fake), a long first backoff (a retry waits for the test)."""
    return worker_settings(settings, sync=SyncSettings(backoff_base_s=3600, timeout_s=2.0))


@pytest.fixture
async def solman_connector(conn, gateway: FakeSolmanServer, solman_settings: Settings,
                           make_actor) -> AsyncIterator[Runtime[SolmanSyncConfig]]:
    """An enabled SolMan connector (Basic auth) to the fake, deleted after the test. Triage left waiting by earlier
    tests runs first, without it."""
    await drain(solman_settings, queues=["triage"])
    admin = await make_actor("admin")
    name = f"solman-{uuid.uuid4().hex[:8]}"
    config = SolmanSyncConfig(user=gateway.fake.user, sap_client=gateway.fake.sap_client, page_size=2,
                              priority_out={1: "9", 2: "2", 3: "3", 4: "4", 5: "4"},  # 9: not in SolMan's customizing
                              categories={"printing": SolmanCategory(category_id="PRN", aspect_id="ITSM_CAT",
                                                                     catalog_type="D")})
    await connectors.create(conn, settings=solman_settings, actor_id=admin.user.id, data=SolmanConnectorIn(
        name=name, kind="solman", base_url=gateway.url, config=config, password=SecretStr(gateway.fake.password)))
    yield await connectors.runtime(conn, solman_settings, name=name)
    await conn.execute("DELETE FROM sync_connectors WHERE name = %s", (name,))
