"""Alert rules CRUD (templates checked, webhook secrets encrypted), history, notifications, contacts.

Who may see what is decided here, not in the routes: rules and re-drives are for admins (the route's
dependency), the history shows an agent only the alerts of tickets the ticket service lets them see
(``tickets.can_see``), and a phone number is set by its owner or an admin.
"""

from __future__ import annotations

import secrets
from typing import Any

from psycopg.errors import UniqueViolation
from psycopg.types.json import Jsonb

from api import crypto, jobs, pagination, sql
from api.alerts import templates
from api.alerts.models import (
    AlertRule,
    AlertRuleIn,
    AlertRuleWithSecret,
    Attempt,
    Channel,
    Delivery,
    Firing,
    HistoryPage,
    Notification,
)
from api.auth import service as people
from api.auth.models import Principal, Role
from api.db import Conn
from api.errors import Conflict, Forbidden, NotFound, OutboundRefused, ValidationFailed
from api.integrations.outbound import OutboundGuard
from api.settings import Settings
from api.tickets import service as tickets

Q = sql.load("api.alerts")
HISTORY_SCAN = 200  # firings read at a time while looking for ones the caller may see


def _rule(row: dict[str, Any]) -> AlertRule:
    return AlertRule(**{k: v for k, v in row.items() if k not in ("secret_encrypted", "created_by")})


def _check(data: AlertRuleIn, settings: Settings) -> None:
    guard = OutboundGuard(settings.outbound)
    for spec in data.channels:
        templates.validate(spec.channel, spec.template, max_bytes=settings.alerts_template_max_bytes)
        if spec.channel is Channel.WEBHOOK and spec.url:
            try:
                guard.check_url(spec.url)
            except OutboundRefused as exc:
                raise ValidationFailed(exc.detail) from exc


def _params(data: AlertRuleIn) -> dict[str, Any]:
    return {
        "name": data.name, "enabled": data.enabled, "events": [str(e) for e in data.events],
        "conditions": Jsonb(data.conditions.model_dump(mode="json", exclude_defaults=True)),
        "channels": Jsonb([c.model_dump(mode="json", exclude_none=True) for c in data.channels]),
        "dedup_window_s": data.dedup_window_s,
    }


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


async def list_rules(conn: Conn, *, rule_id: int | None = None) -> list[AlertRule]:
    return [_rule(r) for r in await (await conn.execute(Q.list_rules, {"id": rule_id})).fetchall()]


async def get_rule_or_raise(conn: Conn, *, rule_id: int) -> AlertRule:
    rules = await list_rules(conn, rule_id=rule_id)
    if not rules:
        raise NotFound(f"No alert rule {rule_id}.")
    return rules[0]


async def create_rule(conn: Conn, *, data: AlertRuleIn, settings: Settings,
                      actor_id: int | None) -> AlertRuleWithSecret:
    """Saves a rule; a WEBHOOK rule without a secret gets a generated one, returned only here."""
    _check(data, settings)
    webhook = any(c.channel is Channel.WEBHOOK for c in data.channels)
    secret = data.webhook_secret.get_secret_value() if data.webhook_secret else new_secret() if webhook else None
    try:
        row = await (await conn.execute(Q.create_rule, _params(data) | {
            "secret_encrypted": crypto.encrypt(settings, secret) if secret else None, "created_by": actor_id,
        })).fetchone()
    except UniqueViolation as exc:
        raise Conflict(f"An alert rule named {data.name!r} already exists.") from exc
    rule = await get_rule_or_raise(conn, rule_id=row["id"])  # type: ignore[index]
    return AlertRuleWithSecret(**rule.model_dump(), webhook_secret=secret if not data.webhook_secret else None)


async def update_rule(conn: Conn, *, rule_id: int, data: AlertRuleIn, settings: Settings) -> AlertRuleWithSecret:
    _check(data, settings)
    secret = data.webhook_secret.get_secret_value() if data.webhook_secret else None
    try:
        row = await (await conn.execute(Q.update_rule, _params(data) | {
            "id": rule_id, "secret_encrypted": crypto.encrypt(settings, secret) if secret else None,
        })).fetchone()
    except UniqueViolation as exc:
        raise Conflict(f"An alert rule named {data.name!r} already exists.") from exc
    if row is None:
        raise NotFound(f"No alert rule {rule_id}.")
    if not row["has_secret"] and any(c.channel is Channel.WEBHOOK for c in data.channels):
        return await rotate_secret(conn, rule_id=rule_id, settings=settings)  # a new WEBHOOK channel needs one
    return AlertRuleWithSecret(**(await get_rule_or_raise(conn, rule_id=rule_id)).model_dump())


async def rotate_secret(conn: Conn, *, rule_id: int, settings: Settings) -> AlertRuleWithSecret:
    """Replaces the rule's webhook secret with a new random one, returned only here."""
    secret = new_secret()
    if await (await conn.execute(Q.set_secret, {"id": rule_id, "secret_encrypted": crypto.encrypt(settings, secret)})
              ).fetchone() is None:
        raise NotFound(f"No alert rule {rule_id}.")
    return AlertRuleWithSecret(**(await get_rule_or_raise(conn, rule_id=rule_id)).model_dump(), webhook_secret=secret)


async def delete_rule(conn: Conn, *, rule_id: int) -> None:
    if await (await conn.execute(Q.delete_rule, {"id": rule_id})).fetchone() is None:
        raise NotFound(f"No alert rule {rule_id}.")


# ---------------------------------------------------------------- history

async def _visible_firings(conn: Conn, *, principal: Principal, filters: dict[str, Any], before_id: int | None,
                           want: int) -> list[dict[str, Any]]:
    """Up to ``want`` firings, newest first before ``before_id``, of tickets ``principal`` may see."""
    batch = want if principal.role is Role.admin else max(want, HISTORY_SCAN)
    found: list[dict[str, Any]] = []
    while True:
        rows = await (await conn.execute(Q.list_firings, filters | {"before_id": before_id, "limit": batch})
                      ).fetchall()
        found += [r for r in rows if tickets.can_see(principal, r)]
        if len(found) >= want or len(rows) < batch:
            return found[:want]
        before_id = rows[-1]["id"]


async def history(conn: Conn, *, principal: Principal, ticket_id: int | None = None, rule_id: int | None = None,
                  event_kind: str | None = None, status: str | None = None, cursor: str | None = None,
                  limit: int = 25) -> HistoryPage:
    """Alerts newest first, each with its deliveries and every attempt's outcome; an agent sees the alerts of
    the tickets they may see, an admin all."""
    if not principal.is_staff:
        raise Forbidden("The alert history is for agents and admins.")
    filters = {"ticket_id": ticket_id, "rule_id": rule_id, "event_kind": event_kind, "status": status}
    rows = await _visible_firings(conn, principal=principal, filters=filters,
                                  before_id=pagination.decode("a", cursor), want=limit + 1)
    firings, next_cursor = pagination.page([Firing(**r) for r in rows], limit=limit, kind="a")
    deliveries = await (await conn.execute(Q.deliveries_of, {"ids": [f.id for f in firings]})).fetchall()
    attempts = await (await conn.execute(Q.attempts_of, {"ids": [d["id"] for d in deliveries]})).fetchall()
    by_delivery: dict[int, list[Attempt]] = {}
    for a in attempts:
        by_delivery.setdefault(a["delivery_id"], []).append(Attempt(**a))
    by_firing: dict[int, list[Delivery]] = {}
    for d in deliveries:
        by_firing.setdefault(d["firing_id"], []).append(Delivery(**d, history=by_delivery.get(d["id"], [])))
    for f in firings:
        f.deliveries = by_firing.get(f.id, [])
    return HistoryPage(items=firings, next_cursor=next_cursor)


async def requeue(conn: Conn, *, delivery_id: int) -> None:
    """Sends a failed or dead-lettered delivery again."""
    async with conn.transaction():
        if await (await conn.execute(Q.requeue_delivery, {"id": delivery_id})).fetchone() is None:
            raise Conflict(f"Delivery {delivery_id} does not exist or is not failed/dead.")
        await jobs.defer(conn, "alerts.deliver", queue="alerts", lock=f"delivery:{delivery_id}",
                         delivery_id=delivery_id)


# ---------------------------------------------------------------- notifications and contacts

async def notify(conn: Conn, *, user_id: int, ticket_id: int | None, title: str, body: str) -> int:
    """Gives ``user_id`` an in-app notification (not from an alert rule: a workflow's approval request)."""
    row = await (await conn.execute(Q.insert_notification, {"user_id": user_id, "ticket_id": ticket_id,
                                                            "delivery_id": None, "title": title, "body": body})).fetchone()
    assert row is not None
    return int(row["id"])


async def list_notifications(conn: Conn, *, user_id: int, unread: bool, before_id: int | None,
                             limit: int) -> list[Notification]:
    rows = await (await conn.execute(Q.list_notifications, {
        "user_id": user_id, "unread": unread, "before_id": before_id, "limit": limit})).fetchall()
    return [Notification(**r) for r in rows]


async def mark_read(conn: Conn, *, user_id: int, notification_id: int) -> Notification:
    row = await (await conn.execute(Q.mark_read, {"id": notification_id, "user_id": user_id})).fetchone()
    if row is None:
        raise NotFound(f"No notification {notification_id} of yours.")
    return Notification(**row)


async def mark_all_read(conn: Conn, *, user_id: int) -> int:
    return len(await (await conn.execute(Q.mark_all_read, {"user_id": user_id})).fetchall())


async def set_contact(conn: Conn, *, principal: Principal, user_id: int, phone: str | None) -> None:
    """Sets the phone number SMS alerts go to: one's own, or anyone's as an admin (through the auth service)."""
    if user_id != principal.id and principal.role is not Role.admin:
        raise Forbidden("You may set only your own phone number.")
    await people.set_phone(conn, user_id=user_id, phone=phone)
