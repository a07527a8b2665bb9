"""From a ticket event to alerts: the rules that match, duplicate suppression, recipients, deliveries.

Runs inside the triage job's transaction: firings, deliveries, in-app notifications and the delivery
jobs are committed together with the event's processing, or not at all. A re-run of the same event
finds its firings and does nothing twice.

Each rule fires in its own savepoint: a rule that fails (a template that raises for this ticket, a
rule that no longer validates) leaves nothing half-made, is recorded as a 'failed' firing with the
reason (history shows it), is logged and told to the admins in-app (once an hour per rule), and the
event's other rules still fire. Only a lost database connection fails the whole event.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from api import jobs, sql
from api.alerts import templates
from api.alerts.models import AlertConditions, Channel, ChannelSpec, EventKind, Recipient
from api.channels import origin
from api.db import Conn
from api.errors import DeskmateError
from api.incidents import affected as incidents
from api.settings import Settings
from api.types import PRIORITY_NAMES

Q = sql.load("api.alerts")
log = logging.getLogger(__name__)
COMMENT_MAX = 10_000
SAME_KINDS = frozenset({"created", "assigned", "status_changed", "commented", "sla_warning", "sla_breach"})


def kinds_of(event: dict[str, Any]) -> list[EventKind]:
    """The alert event kinds a ticket event stands for (an 'updated' that lowers the P-number: priority_raised)."""
    kind, before, after = event["kind"], event["before"] or {}, event["after"] or {}
    if kind in SAME_KINDS:
        return [EventKind(kind)]
    if kind == "updated" and "priority" in after and after["priority"] < before.get("priority", 99):
        return [EventKind.priority_raised]
    return []


def dedup_key(event: dict[str, Any], kind: EventKind) -> str:
    target = (event["after"] or {}).get("target")
    return f"{kind}:{target}" if kind in (EventKind.sla_warning, EventKind.sla_breach) and target else str(kind)


def matches(c: AlertConditions, t: dict[str, Any], event: dict[str, Any], kind: EventKind) -> bool:
    after = event["after"] or {}
    return all((
        not c.priorities or t["priority"] in c.priorities,
        not c.teams or t["team"] in c.teams,
        not c.categories or t["category"] in c.categories,
        not c.sources or t["source_type"] in c.sources,
        not c.statuses or (kind is EventKind.status_changed and after.get("status") in c.statuses),
        c.vip is None or bool(t["requester_vip"]) == c.vip,
        kind is not EventKind.commented or not after.get("internal") or c.include_internal_comments,
    ))


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _label(kind: EventKind, event: dict[str, Any], t: dict[str, Any]) -> str:
    before, after = event["before"] or {}, event["after"] or {}
    due = str(after.get("due_at", ""))[:16].replace("T", " ")
    return {
        EventKind.created: "New ticket",
        EventKind.assigned: f"Assigned to {t['assignee']}" if t["assignee"] else f"Moved to {t['team_name']}",
        EventKind.status_changed: f"Status {before.get('status')} → {after.get('status')}",
        EventKind.commented: "New internal note" if after.get("internal") else "New comment",
        EventKind.priority_raised: f"Priority raised to P{after.get('priority')}",
        EventKind.sla_warning: f"SLA warning: {after.get('target')} due {due} UTC",
        EventKind.sla_breach: f"SLA breached: {after.get('target')} was due {due} UTC",
    }[kind]


async def context(conn: Conn, *, event: dict[str, Any], t: dict[str, Any], kind: EventKind, rule_name: str,
                  settings: Settings) -> dict[str, Any]:
    """What templates see: event, ticket, comment (or None) and rule; JSON-safe."""
    actor = await (await conn.execute(Q.user_name, {"id": event["actor_id"]})).fetchone() if event["actor_id"] else None
    after = event["after"] or {}
    comment = None
    if kind is EventKind.commented and after.get("comment_id"):
        row = await (await conn.execute(Q.comment, {"id": after["comment_id"]})).fetchone()
        comment = dict(row) | {"body": row["body"][:COMMENT_MAX]} if row else None
    ticket = {k: _iso(v) for k, v in t.items() if k not in ("requester_vip",)}
    ticket |= {"description": t["description"][:2000], "priority_name": PRIORITY_NAMES[t["priority"]],
               "url": f"{settings.base_url}/api/v1/tickets/{t['number']}"}
    return {
        "event": {"kind": str(kind), "id": event["id"], "label": _label(kind, event, t), "at": _iso(event["created_at"]),
                  "actor": actor["name"] if actor else None, "reason": (event["meta"] or {}).get("reason"),
                  "target": after.get("target"), "due_at": after.get("due_at"),
                  "before": {k: _iso(v) for k, v in (event["before"] or {}).items()},
                  "after": {k: _iso(v) for k, v in after.items()}},
        "ticket": ticket,
        "comment": dict(comment) if comment else None,
        "rule": {"name": rule_name},
    }


@dataclass(frozen=True)
class To:
    address: str
    user_id: int | None = None
    skipped: str | None = None


async def _people(conn: Conn, r: Recipient, t: dict[str, Any]) -> list[dict[str, Any]]:
    if r.kind in ("assignee", "requester", "user"):
        uid = {"assignee": t["assignee_id"], "requester": t["requester_id"], "user": r.user_id}[r.kind]
        return list(await (await conn.execute(Q.people, {"ids": [uid] if uid else []})).fetchall())
    if r.kind == "affected":
        ids = await incidents.linked_user_ids(conn, ticket_id=t["id"])
        return list(await (await conn.execute(Q.people, {"ids": ids})).fetchall())
    if r.kind == "team":
        return list(await (await conn.execute(Q.team_people, {"slug": r.slug, "team_id": t["team_id"]})).fetchall())
    return []


async def recipients(conn: Conn, spec: ChannelSpec, t: dict[str, Any], *, actor_id: int | None) -> list[To]:
    """Where one channel's message goes: people resolved to the channel's address (the event's own actor
    is left out), literal addresses kept; unusable ones come back as skipped with the reason."""
    out: dict[str, To] = {}
    for r in spec.recipients:
        if r.kind == "email":
            out.setdefault(str(r.address), To(str(r.address)) if spec.channel is Channel.EMAIL else
                           To(str(r.address), skipped=f"an e-mail address cannot receive {spec.channel}"))
            continue
        if r.kind == "phone":
            out.setdefault(str(r.number), To(str(r.number)) if spec.channel is Channel.SMS else
                           To(str(r.number), skipped=f"a phone number cannot receive {spec.channel}"))
            continue
        for p in await _people(conn, r, t):
            if p["id"] == actor_id:
                continue
            if spec.channel is Channel.EMAIL:
                out.setdefault(p["email"], To(p["email"], p["id"]))
            elif spec.channel is Channel.IN_APP:
                out.setdefault(f"user:{p['id']}", To(p["email"], p["id"]))
            elif spec.channel is Channel.ORIGIN:
                found = await origin.origin_of(conn, ticket_id=t["id"])
                out.setdefault(f"origin:{p['id']}", To(found.address, p["id"]) if found else
                               To(f"user:{p['id']}", p["id"], skipped=origin.NO_ORIGIN))
            elif p["phone"]:
                out.setdefault(p["phone"], To(p["phone"], p["id"]))
            else:
                out.setdefault(f"user:{p['id']}", To(p["email"], p["id"], skipped=f"{p['name']} has no phone number"))
    return list(out.values())


def _rendered(spec: ChannelSpec, ctx: dict[str, Any], *, max_bytes: int) -> tuple[str | None, str]:
    template = templates.effective(spec.channel, spec.template)
    subject = templates.render(template.subject, ctx, max_bytes=max_bytes) if template.subject else None
    body = templates.render(template.body or "", ctx, max_bytes=max_bytes)
    if spec.channel is Channel.SMS:
        body = templates.one_segment(body)
    return (None if spec.channel in (Channel.SMS, Channel.WEBHOOK) else subject), body


async def _deliver_in_app(conn: Conn, delivery_id: int, *, user_id: int, ticket_id: int, title: str,
                          body: str) -> None:
    attempt = await (await conn.execute(Q.start_attempt, {"id": delivery_id})).fetchone()
    await conn.execute(Q.insert_notification, {"user_id": user_id, "ticket_id": ticket_id, "delivery_id": delivery_id,
                                               "title": title, "body": body})
    await conn.execute(Q.finish_attempt, {"id": delivery_id, "attempt": attempt["attempt"],  # type: ignore[index]
                                          "status": "ok", "error": None, "detail": Jsonb({})})
    await conn.execute(Q.finish_delivery, {"id": delivery_id, "status": "sent", "external_id": None,
                                           "last_error": None, "next_attempt_at": None})


async def _fire(conn: Conn, *, rule: dict[str, Any], firing_id: int, event: dict[str, Any], kind: EventKind,
                t: dict[str, Any], settings: Settings) -> int:
    ctx = await context(conn, event=event, t=t, kind=kind, rule_name=rule["name"], settings=settings)
    made = 0
    for spec in (ChannelSpec(**c) for c in rule["channels"]):
        subject, body = _rendered(spec, ctx, max_bytes=settings.alerts_template_max_bytes)
        targets = [To(str(spec.url))] if spec.channel is Channel.WEBHOOK else await recipients(
            conn, spec, t, actor_id=event["actor_id"])
        for to in targets:
            key = "dlv_" + secrets.token_hex(12)
            payload = {"id": key, "event": ctx["event"], "ticket": ctx["ticket"], "text": body,
                       "rule": {"id": rule["id"], "name": rule["name"]}} if spec.channel is Channel.WEBHOOK else None
            row = await (await conn.execute(Q.insert_delivery, {
                "firing_id": firing_id, "rule_id": rule["id"], "ticket_id": t["id"], "channel": str(spec.channel),
                "recipient": to.address, "user_id": to.user_id, "subject": subject, "body": body,
                "payload": Jsonb(payload) if payload else None, "idempotency_key": key,
                "status": "skipped" if to.skipped else "pending", "last_error": to.skipped})).fetchone()
            assert row is not None
            if to.skipped:
                continue
            made += 1
            if spec.channel is Channel.IN_APP:
                assert to.user_id is not None
                await _deliver_in_app(conn, row["id"], user_id=to.user_id, ticket_id=t["id"],
                                      title=subject or body[:200], body=body)
            else:
                await jobs.defer(conn, "alerts.deliver", queue="alerts", lock=f"delivery:{row['id']}",
                                 delivery_id=row["id"])
    return made


async def _fire_rule(conn: Conn, *, rule: dict[str, Any], kind: EventKind, event: dict[str, Any],
                     t: dict[str, Any], settings: Settings) -> int | None:
    """Fires (or suppresses) one rule for one event kind; returns the firing id, None when it does not apply."""
    if not matches(AlertConditions(**rule["conditions"]), t, event, kind):
        return None
    key = {"rule_id": rule["id"], "ticket_id": t["id"], "dedup_key": dedup_key(event, kind),
           "event_id": event["id"], "event_kind": str(kind)}
    await conn.execute(Q.lock_dedup, key)
    if await (await conn.execute(Q.firing_exists, key)).fetchone():
        return None
    window = rule["dedup_window_s"] if rule["dedup_window_s"] is not None else settings.alerts_dedup_window_s
    earlier = await (await conn.execute(Q.recent_firing, key | {"window_s": window})).fetchone() if window else None
    row = await (await conn.execute(Q.insert_firing, key | {
        "status": "suppressed" if earlier else "fired", "suppressed_by": earlier["id"] if earlier else None,
    })).fetchone()
    assert row is not None
    if not earlier and not await _fire(conn, rule=rule, firing_id=row["id"], event=event, kind=kind, t=t,
                                       settings=settings):
        await conn.execute(Q.set_firing_status, {"id": row["id"], "status": "no_recipients"})
    return int(row["id"])


async def _failed(conn: Conn, *, rule: dict[str, Any], kind: EventKind, event: dict[str, Any], t: dict[str, Any],
                  exc: Exception) -> int:
    """Records the rule's failure on this event; logs it and tells the admins (once an hour per rule)."""
    error = exc.detail if isinstance(exc, DeskmateError) else f"{type(exc).__name__}: {str(exc)[:500]}"
    log.error("alert rule %s (%s) failed for ticket %s, event %s: %s", rule["id"], rule["name"], t["number"],
              event["id"], error, exc_info=not isinstance(exc, DeskmateError))
    row = await (await conn.execute(Q.insert_failed_firing, {
        "rule_id": rule["id"], "ticket_id": t["id"], "event_id": event["id"], "event_kind": str(kind),
        "dedup_key": dedup_key(event, kind), "error": error})).fetchone()
    assert row is not None
    if not await (await conn.execute(Q.recent_failure, {"rule_id": rule["id"], "id": row["id"]})).fetchone():
        for admin in await (await conn.execute(Q.admins)).fetchall():
            await conn.execute(Q.insert_notification, {
                "user_id": admin["id"], "ticket_id": t["id"], "delivery_id": None,
                "title": f"Alert rule '{rule['name']}' failed for {t['number']}",
                "body": f"{error} — see GET /api/v1/alerts/history?rule_id={rule['id']}&status=failed"})
    return int(row["id"])


async def on_event(conn: Conn, *, event: dict[str, Any], settings: Settings) -> list[int]:
    """Fires (or suppresses) every enabled rule matching the event; returns the firing ids (failed ones
    included). The caller holds a transaction; each rule runs in a savepoint of it."""
    kinds = kinds_of(event)
    if not kinds:
        return []
    rules = await (await conn.execute(Q.rules_for_events, {"kinds": [str(k) for k in kinds]})).fetchall()
    t = await (await conn.execute(Q.ticket_context, {"ticket_id": event["ticket_id"]})).fetchone()
    fired: list[int] = []
    if t is None:
        return fired
    for rule in rules:
        for kind in (k for k in kinds if str(k) in rule["events"]):
            try:
                async with conn.transaction():
                    firing_id = await _fire_rule(conn, rule=rule, kind=kind, event=event, t=t, settings=settings)
            except psycopg.OperationalError:
                raise  # the database is gone: the whole event is retried
            except Exception as exc:
                firing_id = await _failed(conn, rule=rule, kind=kind, event=event, t=t, exc=exc)
            if firing_id is not None:
                fired.append(firing_id)
    return fired
