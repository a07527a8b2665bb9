"""Alert endpoints: rules (admin), history (staff), re-drive (admin), contacts, notifications (your own)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from api.alerts import service
from api.alerts.models import AlertRule, AlertRuleIn, AlertRuleWithSecret, Contact, EventKind, HistoryPage, Notification
from api.auth.deps import AdminUser, CurrentUser, StaffUser
from api.db import ConnDep
from api.deps import SettingsDep

router = APIRouter(prefix="/alerts", tags=["alerts"])
notifications = APIRouter(prefix="/notifications", tags=["notifications"])


@router.get("/rules")
async def list_rules(conn: ConnDep, _: AdminUser) -> list[AlertRule]:
    return await service.list_rules(conn)


@router.post("/rules", status_code=status.HTTP_201_CREATED)
async def create_rule(data: AlertRuleIn, conn: ConnDep, principal: AdminUser, settings: SettingsDep,
                      response: Response) -> AlertRuleWithSecret:
    """Creates a rule; for a WEBHOOK rule without ``webhook_secret`` the generated secret is in the answer, once."""
    rule = await service.create_rule(conn, data=data, settings=settings, actor_id=principal.id)
    response.headers["Location"] = f"/api/v1/alerts/rules/{rule.id}"
    return rule


@router.get("/rules/{rule_id}")
async def get_rule(rule_id: int, conn: ConnDep, _: AdminUser) -> AlertRule:
    return await service.get_rule_or_raise(conn, rule_id=rule_id)


@router.put("/rules/{rule_id}")
async def update_rule(rule_id: int, data: AlertRuleIn, conn: ConnDep, _: AdminUser,
                      settings: SettingsDep) -> AlertRuleWithSecret:
    return await service.update_rule(conn, rule_id=rule_id, data=data, settings=settings)


@router.delete("/rules/{rule_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_rule(rule_id: int, conn: ConnDep, _: AdminUser) -> None:
    await service.delete_rule(conn, rule_id=rule_id)


@router.post("/rules/{rule_id}/rotate-secret")
async def rotate_secret(rule_id: int, conn: ConnDep, _: AdminUser, settings: SettingsDep) -> AlertRuleWithSecret:
    """A new webhook signing secret (shown once); deliveries sign with it from now on, retries included."""
    return await service.rotate_secret(conn, rule_id=rule_id, settings=settings)


@router.get("/history")
async def history(
    conn: ConnDep, principal: StaffUser, ticket_id: int | None = None, rule_id: int | None = None,
    event_kind: EventKind | None = None,
    status_: Annotated[str | None, Query(alias="status", pattern=r"^[a-z_]+$")] = None,
    cursor: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
) -> HistoryPage:
    """Alerts newest first (fired, suppressed, no recipients, failed), with every delivery's attempts and errors;
    agents see the alerts of tickets their teams may see."""
    return await service.history(conn, principal=principal, ticket_id=ticket_id, rule_id=rule_id, event_kind=event_kind,
                                 status=status_, cursor=cursor, limit=limit)


@router.post("/deliveries/{delivery_id}/retry", status_code=status.HTTP_202_ACCEPTED)
async def retry_delivery(delivery_id: int, conn: ConnDep, _: AdminUser) -> dict[str, str]:
    """Sends a failed or dead-lettered delivery again."""
    await service.requeue(conn, delivery_id=delivery_id)
    return {"status": "retrying"}


@router.put("/contacts/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
async def set_contact(user_id: int, data: Contact, conn: ConnDep, principal: CurrentUser) -> None:
    """Sets the phone number SMS alerts go to: your own, or anyone's as an admin."""
    await service.set_contact(conn, principal=principal, user_id=user_id, phone=data.phone)


@notifications.get("")
async def list_notifications(
    conn: ConnDep, principal: CurrentUser, unread: bool = False, before_id: int | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> list[Notification]:
    """Your in-app notifications, newest first."""
    return await service.list_notifications(conn, user_id=principal.id, unread=unread, before_id=before_id,
                                            limit=limit)


@notifications.post("/{notification_id}/read")
async def mark_read(notification_id: int, conn: ConnDep, principal: CurrentUser) -> Notification:
    return await service.mark_read(conn, user_id=principal.id, notification_id=notification_id)


@notifications.post("/read-all")
async def mark_all_read(conn: ConnDep, principal: CurrentUser) -> dict[str, int]:
    return {"marked": await service.mark_all_read(conn, user_id=principal.id)}
