"""Sync endpoints (admins only, but GLPI's signed webhooks: api/integrations/glpi/webhook_routes.py): connectors (secrets write-only), their status, conflicts, retrying an item."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from api.auth.deps import AdminUser, StaffUser
from api.db import ConnDep
from api.deps import IdempotencyKey, SettingsDep
from api.errors import NotFound
from api.integrations.glpi import webhook_routes as glpi_webhooks
from api.integrations.sync import connectors, outbox, service
from api.integrations.sync.models import (
    ConflictResolution,
    Connector,
    ConnectorPatch,
    ConnectorStatus,
    NewConnector,
    SyncConflict,
)

router = APIRouter(prefix="/sync", tags=["sync"])
router.include_router(glpi_webhooks.router)  # GLPI's signed webhooks: no bearer token


@router.post("/connectors", status_code=status.HTTP_201_CREATED)
async def create_connector(data: NewConnector, conn: ConnDep, principal: AdminUser, settings: SettingsDep,
                           response: Response, idempotency_key: IdempotencyKey = None) -> Connector:
    connector, created = await connectors.create(conn, data=data, settings=settings, actor_id=principal.id,
                                                 idempotency_key=idempotency_key)
    response.headers["Location"] = f"/api/v1/sync/connectors/{connector.name}"
    if not created:
        response.headers["Idempotent-Replayed"] = "true"
    return connector


@router.get("/connectors")
async def list_connectors(conn: ConnDep, _: AdminUser) -> list[Connector]:
    return await connectors.list_connectors(conn)


@router.get("/connectors/{name}")
async def get_connector(name: str, conn: ConnDep, _: AdminUser) -> Connector:
    return await connectors.get(conn, name=name)


@router.patch("/connectors/{name}")
async def update_connector(name: str, data: ConnectorPatch, conn: ConnDep, _: AdminUser,
                           settings: SettingsDep) -> Connector:
    """Changes a connector; a secret left out stays as it is, a secret given replaces the stored one."""
    return await connectors.update(conn, name=name, data=data, settings=settings)


@router.delete("/connectors/{name}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_connector(name: str, conn: ConnDep, _: AdminUser) -> None:
    await connectors.delete(conn, name=name)


@router.get("/connectors/{name}/status")
async def connector_status(name: str, conn: ConnDep, _: AdminUser) -> ConnectorStatus:
    """Queue depth, lag (age of the oldest waiting item), failed items with the external error, last poll."""
    return await service.status(conn, name=name)


@router.get("/conflicts")
async def list_conflicts(conn: ConnDep, _: StaffUser,
                         ticket: Annotated[str | None, Query(max_length=40, description="number or id")] = None,
                         open: Annotated[bool, Query(description="only the unresolved ones")] = False,
                         limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[SyncConflict]:
    """Local changes that were not written because the external value had changed too (newest first). Agents
    and admins."""
    return await service.conflicts(conn, ticket=ticket, open_only=open, limit=limit)


@router.post("/conflicts/{conflict_id}/resolve")
async def resolve_conflict(conflict_id: int, data: ConflictResolution, conn: ConnDep,
                           principal: StaffUser) -> SyncConflict:
    """Keeps the external value (``theirs``) or applies deskmate's again (``ours``, synced out); once."""
    return await service.resolve_conflict(conn, conflict_id=conflict_id, data=data, principal=principal)


@router.post("/outbox/{item_id}/retry", status_code=status.HTTP_202_ACCEPTED)
async def retry_item(item_id: int, conn: ConnDep, _: AdminUser) -> dict[str, str]:
    """Queues a failed outbox item again."""
    if not await outbox.retry(conn, item_id=item_id):
        raise NotFound(f"No failed outbox item {item_id}.")
    return {"status": "retrying"}
