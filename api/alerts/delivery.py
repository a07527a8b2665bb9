"""Delivering one alert message (EMAIL, SMS, WEBHOOK) with attempt bookkeeping, backoff and dead-letter.

One attempt:
1. in a transaction: lock the delivery; an attempt still 'started' means a worker died mid-send, so it
   becomes 'interrupted'; count the new attempt, status 'sending'; commit.
2. send, outside any transaction, with the delivery's idempotency key.
3. in a transaction: record the outcome. Success: 'sent' with the receiver's id. A permanent error:
   'failed'. Otherwise 'retrying' with a new job scheduled after an exponential backoff, or 'dead'
   once DESKMATE_ALERTS_MAX_ATTEMPTS attempts were made. Failed and dead deliveries are the
   dead-letter: visible in the history and re-drivable by an admin.

If the worker dies between 2 and 3, procrastinate's stalled-job recovery runs the job again; the
receiver sees the same key (webhook header, e-mail Message-ID) or, for Twilio, the message already
sent is found and not sent twice.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg.types.json import Jsonb

from api import crypto, jobs, sql
from api.alerts import mailer, sms, webhooks
from api.alerts.models import Channel
from api.db import Conn
from api.errors import IntegrationError, SmtpError, TwilioError, WebhookError
from api.settings import Settings

Q = sql.load("api.alerts")
FINAL = frozenset({"sent", "failed", "dead", "skipped"})


@dataclass
class Outcome:
    status: str  # attempt status: ok / duplicate / error
    external_id: str | None = None
    error: str | None = None
    permanent: bool = False
    retry_after_s: float | None = None
    detail: dict[str, Any] = field(default_factory=dict)


def backoff(settings: Settings, attempt: int) -> float:
    """Seconds before attempt ``attempt + 1``: base × 2^(attempt-1), capped, ±10 % jitter."""
    delay = min(settings.alerts_backoff_base_s * 2 ** (attempt - 1), settings.alerts_backoff_max_s)
    return delay * random.uniform(0.9, 1.1)


def webhook_body(payload: dict[str, Any]) -> bytes:
    """The exact bytes signed and sent: the same for every attempt of a delivery."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


async def _begin(conn: Conn, delivery_id: int) -> tuple[dict[str, Any], int, datetime | None] | None:
    async with conn.transaction():
        d = await (await conn.execute(Q.lock_delivery, {"id": delivery_id})).fetchone()
        if d is None or d["status"] in FINAL:
            return None
        interrupted = await (await conn.execute(Q.interrupt_attempts, {"id": delivery_id})).fetchall()
        attempt = await (await conn.execute(Q.start_attempt, {"id": delivery_id})).fetchone()
        assert attempt is not None
    since = min((r["started_at"] for r in interrupted), default=None)
    return dict(d), int(attempt["attempt"]), since


async def _send(d: dict[str, Any], settings: Settings, interrupted_since: datetime | None) -> Outcome:
    channel = Channel(d["channel"])
    try:
        if channel is Channel.EMAIL:
            mid = await mailer.send(settings, to=d["recipient"], subject=d["subject"] or "", body=d["body"],
                                    delivery_key=d["idempotency_key"])
            return Outcome("ok", external_id=mid)
        if channel is Channel.SMS:
            sent = await sms.send(settings, to=d["recipient"], body=d["body"], interrupted_since=interrupted_since)
            return Outcome("duplicate" if sent.reused else "ok", external_id=sent.sid,
                           detail={"twilio_status": sent.status, "segments": sent.segments})
        secret = crypto.decrypt(settings, d["secret_encrypted"]) if d["secret_encrypted"] else ""
        answer = await webhooks.post(url=d["recipient"], body=webhook_body(d["payload"]), secret=secret,
                                     delivery_key=d["idempotency_key"], event=d["payload"]["event"]["kind"],
                                     timeout_s=settings.webhook_timeout_s, allow_private=settings.outbound_allow_private)
        return Outcome("ok", detail={"http_status": answer.http_status})
    except (SmtpError, TwilioError, WebhookError) as exc:
        detail: dict[str, Any] = {}
        if isinstance(exc, WebhookError) and exc.http_status:
            detail["http_status"] = exc.http_status
        if isinstance(exc, TwilioError):
            detail |= {"twilio_code": exc.code, "http_status": exc.extra.get("http_status")}
        return Outcome("error", error=exc.detail, permanent=exc.permanent, detail=detail,
                       retry_after_s=exc.extra.get("retry_after_s"))
    except IntegrationError as exc:  # e.g. a secret that no longer decrypts
        return Outcome("error", error=exc.detail, permanent=True)


async def _finish(conn: Conn, d: dict[str, Any], attempt: int, out: Outcome, settings: Settings) -> str:
    status, next_at = "sent", None
    if out.status == "error":
        if out.permanent:
            status = "failed"
        elif attempt >= settings.alerts_max_attempts:
            status = "dead"
        else:
            status = "retrying"
            delay = max(backoff(settings, attempt), min(out.retry_after_s or 0, settings.alerts_backoff_max_s))
            next_at = datetime.now(UTC) + timedelta(seconds=delay)
    async with conn.transaction():
        await conn.execute(Q.finish_attempt, {"id": d["id"], "attempt": attempt, "status": out.status,
                                              "error": out.error, "detail": Jsonb(out.detail)})
        await conn.execute(Q.finish_delivery, {"id": d["id"], "status": status, "external_id": out.external_id,
                                               "last_error": out.error, "next_attempt_at": next_at})
        if status == "retrying":
            await jobs.defer(conn, "alerts.deliver", queue="alerts", lock=f"delivery:{d['id']}", schedule_at=next_at,
                             delivery_id=d["id"])
    return status


async def deliver(conn: Conn, *, delivery_id: int, settings: Settings) -> str:
    """Makes one attempt at a delivery; returns its status afterwards (or its final status untouched)."""
    begun = await _begin(conn, delivery_id)
    if begun is None:
        row = await (await conn.execute(Q.lock_delivery, {"id": delivery_id})).fetchone()
        return str(row["status"]) if row else "missing"
    d, attempt, interrupted_since = begun
    outcome = await _send(d, settings, interrupted_since)
    return await _finish(conn, d, attempt, outcome, settings)
