"""``deskmate dev fake-glpi``: the fake GLPI on a port and a connector named after it that points at it.

The connector is created through the same service as ``POST /api/v1/sync/connectors`` (tokens encrypted, the URL
checked by the outbound guard). The fake keeps its tickets in memory, so a new start is a new, empty GLPI: an
existing connector of that name is replaced (its links, queue, cursor and conflicts named tickets of the old
fake, whose ids the new one hands out again), leaving one connector.
"""

from __future__ import annotations

import secrets
import threading

from pydantic import SecretStr

from api.db import Conn
from api.dev.fake_glpi import FakeGlpiServer
from api.dev.fake_glpi_webhooks import Delivery, FakeWebhook, post_delivery
from api.errors import NotFound
from api.integrations.sync import connectors
from api.integrations.sync.models import Connector, ConnectorIn, ConnectorPatch
from api.settings import Settings

LOOPBACK_HINT = ("the fake GLPI listens on 127.0.0.1, which deskmate only calls with "
                 "DESKMATE_OUTBOUND_ALLOW_PRIVATE=true: start this command and `make run` with it "
                 "(docs/integrations/glpi.md#try-it-without-a-glpi)")


async def point_connector(conn: Conn, settings: Settings, *, name: str, glpi: FakeGlpiServer) -> tuple[Connector, bool]:
    """Creates the connector ``name`` for ``glpi``, replacing one of that name; returns it and whether it is new
    (False: an earlier one was replaced)."""
    try:
        await connectors.delete(conn, name=name)
        replaced = True
    except NotFound:
        replaced = False
    system = await connectors.principal(conn)
    connector, _ = await connectors.create(conn, settings=settings, actor_id=system.id, data=ConnectorIn(
        name=name, base_url=glpi.url, user_token=SecretStr(glpi.fake.user_token),
        app_token=SecretStr(glpi.fake.app_token) if glpi.fake.app_token else None))
    return connector, not replaced


async def send_webhooks(conn: Conn, settings: Settings, *, name: str, glpi: FakeGlpiServer, api_url: str) -> str:
    """Gives the connector a new webhook secret and makes the fake send signed webhooks to deskmate at
    ``api_url`` on every change (each from its own thread, as GLPI's queue would); returns the webhook URL."""
    secret = secrets.token_hex(20)
    await connectors.update(conn, name=name, settings=settings, data=ConnectorPatch(webhook_secret=SecretStr(secret)))
    url = f"{api_url.rstrip('/')}/api/v1/sync/connectors/{name}/webhook"
    glpi.fake.webhooks.append(FakeWebhook(url=url, secret=secret))

    def send(delivery: Delivery) -> None:
        def post() -> None:
            status = post_delivery(delivery)
            if glpi.fake.echo is not None:
                glpi.fake.echo(f"webhook {delivery.itemtype} {delivery.event} → {status or 'no answer'}")
        threading.Thread(target=post, daemon=True).start()

    glpi.fake.send_webhook = send
    return url


def followup_recipe(glpi: FakeGlpiServer) -> list[str]:
    """How to add a follow-up in the fake as one would in a real GLPI: its REST API, with curl."""
    app = f' -H "App-Token: {glpi.fake.app_token}"' if glpi.fake.app_token else ""
    return [
        f'SESSION=$(curl -s{app} -H "Authorization: user_token {glpi.fake.user_token}" '
        f"{glpi.url}initSession | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"session_token\"])')",
        f'curl -s{app} -H "Session-Token: $SESSION" "{glpi.url}Ticket?sort=id&order=DESC"   # the tickets',
        f'curl -s{app} -H "Session-Token: $SESSION" -H "Content-Type: application/json" '
        f'-d \'{{"input": {{"content": "Please restart your laptop"}}}}\' {glpi.url}Ticket/TICKET_ID/ITILFollowup',
    ]
