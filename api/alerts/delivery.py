"""Delivering one alert message (EMAIL, SMS, WEBHOOK, ORIGIN: api/channels/origin.py) with attempt bookkeeping, backoff and dead-letter.

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

No input stalls a delivery: whatever goes wrong while the message is built or sent (a header that
cannot be encoded, a bug) is recorded as the attempt's error and the delivery is retried or
dead-lettered like any other failure. A delivery still 'sending' (or 'retrying' and overdue) longer
than DESKMATE_ALERTS_LEASE_S, because the bookkeeping itself failed, is queued again by ``redrive_stuck``.
"""

from __future__ import annotations

import json
import logging
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg.types.json import Jsonb

from api import crypto, jobs, sql
from api.alerts.models import Channel
from api.channels import origin
from api.db import Conn
from api.errors import ChannelDeliveryFailed, IntegrationError, SmtpError, TwilioError, WebhookError
from api.integrations.outbound import OutboundGuard
from api.integrations.smtp.client import SmtpClient
from api.integrations.twilio.client import TwilioClient
from api.integrations.webhooks.client import WebhookClient
from api.settings import Settings

Q = sql.load("api.alerts")
log = logging.getLogger(__name__)
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
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8", "replace")  # a lone surrogate becomes "?" instead of failing every attempt


async def _begin(conn: Conn, delivery_id: int) -> tuple[dict[str, Any], int, datetime | None] | None:
    async with conn.transaction():
        d = await (await conn.execute(Q.lock_delivery, {"id": delivery_id})).fetchone()
        if d is None or d["status"] in FINAL or (d["status"] == "retrying" and d["not_due"]):
            return None  # done, or a duplicate job ahead of the retry's time: the scheduled job will come
        interrupted = await (await conn.execute(Q.interrupt_attempts, {"id": delivery_id})).fetchall()
        attempt = await (await conn.execute(Q.start_attempt, {"id": delivery_id})).fetchone()
        assert attempt is not None
    since = min((r["started_at"] for r in interrupted), default=None)
    return dict(d), int(attempt["attempt"]), since


async def _attempt(conn: Conn, d: dict[str, Any], settings: Settings, interrupted_since: datetime | None) -> Outcome:
    channel = Channel(d["channel"])
    if channel is Channel.ORIGIN:
        found = await origin.origin_of(conn, ticket_id=d["ticket_id"])
        if found is None:
            raise ChannelDeliveryFailed(origin.NO_ORIGIN, permanent=True)
        await origin.tell(conn, settings, origin=found, text=d["body"])
        return Outcome("ok")
    if channel is Channel.EMAIL:
        mid = await SmtpClient(settings.smtp).send(to=d["recipient"], subject=d["subject"] or "", body=d["body"],
                                                   delivery_key=d["idempotency_key"])
        return Outcome("ok", external_id=mid)
    if channel is Channel.SMS:
        sent = await TwilioClient(settings.twilio).send(to=d["recipient"], body=d["body"],
                                                        interrupted_since=interrupted_since)
        return Outcome("duplicate" if sent.reused else "ok", external_id=sent.sid,
                       detail={"twilio_status": sent.status, "segments": sent.segments})
    secret = crypto.decrypt(settings, d["secret_encrypted"]) if d["secret_encrypted"] else ""
    hooks = WebhookClient(settings.webhooks, guard=OutboundGuard(settings.outbound))
    answer = await hooks.post(url=d["recipient"], body=webhook_body(d["payload"]), secret=secret,
                              delivery_key=d["idempotency_key"], event=d["payload"]["event"]["kind"])
    return Outcome("ok", detail={"http_status": answer.http_status})


async def _send(conn: Conn, d: dict[str, Any], settings: Settings, interrupted_since: datetime | None) -> Outcome:
    """One attempt's outcome; never raises (an unexpected error is an outcome to retry)."""
    try:
        return await _attempt(conn, d, settings, interrupted_since)
    except (SmtpError, TwilioError, WebhookError, ChannelDeliveryFailed) as exc:
        detail: dict[str, Any] = {}
        if isinstance(exc, WebhookError) and exc.http_status:
            detail["http_status"] = exc.http_status
        if isinstance(exc, TwilioError):
            detail |= {"twilio_code": exc.code, "http_status": exc.extra.get("http_status")}
        return Outcome("error", error=exc.detail, permanent=exc.permanent, detail=detail,
                       retry_after_s=exc.extra.get("retry_after_s"))
    except IntegrationError as exc:  # e.g. a secret that no longer decrypts
        return Outcome("error", error=exc.detail, permanent=True)
    except Exception as exc:  # a bug or an input nobody foresaw: recorded, retried, dead-lettered in the end
        log.exception("alert delivery %s failed unexpectedly", d["id"])
        return Outcome("error", error=f"unexpected error: {type(exc).__name__}: {str(exc)[:300]}")


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
    outcome = await _send(conn, d, settings, interrupted_since)
    return await _finish(conn, d, attempt, outcome, settings)


async def redrive_stuck(conn: Conn, *, settings: Settings) -> list[int]:
    """Queues again the deliveries left 'sending' (or overdue 'retrying') for longer than the lease; returns them."""
    rows = await (await conn.execute(Q.stuck_deliveries, {"lease_s": settings.alerts_lease_s})).fetchall()
    for row in rows:
        log.warning("alert delivery %s was stuck in %s; queued again", row["id"], row["status"])
        await jobs.defer(conn, "alerts.deliver", queue="alerts", lock=f"delivery:{row['id']}",
                         delivery_id=row["id"])
    return [int(r["id"]) for r in rows]
