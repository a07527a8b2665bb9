"""Helpers of the GLPI webhook and people tests: a webhook secret on the connector and the fake, deliveries sent
through the app."""

from __future__ import annotations

import uuid
from typing import Any

from fakes.glpi_server import Delivery, FakeGlpiServer, FakeWebhook
from pydantic import SecretStr

from api.integrations.sync import connectors
from api.integrations.sync.connectors import Runtime
from api.integrations.sync.models import ConnectorPatch
from api.settings import Settings


def webhook_path(connector: Runtime) -> str:
    return f"/api/v1/sync/connectors/{connector.name}/webhook"


async def hook_up(conn: Any, settings: Settings, connector: Runtime, glpi: FakeGlpiServer) -> str:
    """Gives the connector a webhook secret (as an admin would) and the fake a webhook with it; returns it."""
    secret = "whs-" + uuid.uuid4().hex
    await connectors.update(conn, name=connector.name, settings=settings,
                            data=ConnectorPatch(webhook_secret=SecretStr(secret)))
    glpi.fake.webhooks.append(FakeWebhook(url=f"http://test{webhook_path(connector)}", secret=secret))
    return secret


async def post(client: Any, delivery: Delivery, **headers: str) -> Any:
    """Sends one delivery to the app (``headers`` replace GLPI's)."""
    return await client.post(delivery.url.removeprefix("http://test"), content=delivery.body,
                             headers=delivery.headers | headers)


async def deliver_all(client: Any, glpi: FakeGlpiServer) -> list[Any]:
    """GLPI's queue sends what is waiting, oldest first."""
    return [await post(client, d) for d in glpi.fake.take_webhooks()]
