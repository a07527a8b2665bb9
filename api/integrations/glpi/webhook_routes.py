"""GLPI's webhooks to a connector: no bearer token, the X-GLPI-signature is the authentication
(api/integrations/glpi/webhooks.py). Mounted under the sync router: /api/v1/sync/connectors/{name}/webhook."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Request, Response, status
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field

from api.db import ConnDep
from api.deps import SettingsDep
from api.integrations.glpi import webhooks

router = APIRouter(tags=["sync"])


class WebhookReceipt(BaseModel):
    status: Literal["queued", "duplicate", "ignored"] = Field(
        description="queued: the ticket is pulled now; duplicate: this delivery was accepted before; "
                    "ignored: the connector is disabled")
    glpi_ticket: int


@router.post("/connectors/{name}/webhook", status_code=status.HTTP_202_ACCEPTED)
async def glpi_webhook(name: str, request: Request, response: Response, conn: ConnDep, settings: SettingsDep,
                       x_glpi_signature: Annotated[str | None, Header()] = None,
                       x_glpi_timestamp: Annotated[str | None, Header()] = None) -> WebhookReceipt:
    """A GLPI webhook (Setup > Webhooks): verified, then the GLPI ticket it names is pulled from GLPI."""
    received = await webhooks.receive(conn, settings, name=name, body=await request.body(),
                                      timestamp=x_glpi_timestamp, signed=x_glpi_signature)
    if received.status == "duplicate":
        response.status_code = status.HTTP_200_OK
    return WebhookReceipt(status=received.status, glpi_ticket=received.glpi_ticket)  # type: ignore[arg-type]


@router.get("/connectors/{name}/webhook", response_class=PlainTextResponse)
async def glpi_webhook_challenge(name: str, conn: ConnDep, settings: SettingsDep,
                                 crc_token: Annotated[str, Query(max_length=128)]) -> str:
    """GLPI's challenge–response check of the URL (the webhook's "Use CRA challenge" switch)."""
    return webhooks.check_challenge(await webhooks.target(conn, settings, name=name), crc_token)
