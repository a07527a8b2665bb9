"""Alert rules CRUD (templates checked, webhook secrets encrypted), history, notifications, contacts."""

from __future__ import annotations

import secrets
from typing import Any

from psycopg.errors import UniqueViolation
from psycopg.types.json import Jsonb

from api import crypto, jobs, pagination, sql
from api.alerts import outbound, templates
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
from api.db import Conn
from api.errors import Conflict, NotFound, ValidationFailed, WebhookError
from api.settings import Settings

Q = sql.load("api.alerts")


def _rule(row: dict[str, Any]) -> AlertRule:
    return AlertRule(**{k: v for k, v in row.items() if k not in ("secret_encrypted", "created_by")})


def _check(data: AlertRuleIn, settings: Settings) -> None:
    for spec in data.channels:
        templates.validate(spec.channel, spec.template)
        if spec.channel is Channel.WEBHOOK and spec.url:
            try:
                outbound.check_url(spec.url, allow_private=settings.outbound_allow_private)
            except WebhookError as exc:
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

async def history(conn: Conn, *, ticket_id: int | None = None, rule_id: int | None = None,
                  event_kind: str | None = None, status: str | None = None, cursor: str | None = None,
                  limit: int = 25) -> HistoryPage:
    """Alerts newest first, each with its deliveries and every attempt's outcome."""
    rows = await (await conn.execute(Q.list_firings, {
        "ticket_id": ticket_id, "rule_id": rule_id, "event_kind": event_kind, "status": status,
        "before_id": pagination.decode("a", cursor), "limit": limit + 1})).fetchall()
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


async def set_phone(conn: Conn, *, user_id: int, phone: str | None) -> None:
    if await (await conn.execute(Q.set_phone, {"user_id": user_id, "phone": phone})).fetchone() is None:
        raise NotFound(f"No user {user_id}.")
