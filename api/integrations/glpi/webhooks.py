"""Inbound GLPI webhooks (GLPI 11, Setup > Webhooks): verified, then a pull of the ticket they name.

What GLPI sends (its ``Webhook::raise``): a POST whose body is ``{"event": "new"|"update"|…, "item": {…}}`` —
the item as the High-Level API shows it, plus ``parent_item`` (the ticket) for a follow-up, solution or task —
and two headers:

    X-GLPI-timestamp: 1767603600                     unix seconds when GLPI queued the delivery
    X-GLPI-signature: <hex>                          HMAC-SHA256(secret, body + timestamp), lowercase hex

A retry of a queued delivery resends the same body and headers. Here: a missing or wrong signature, or a
timestamp outside ``webhook_tolerance_s`` of our clock → 401, nothing stored; a signature accepted before → 200,
nothing done again (the deliveries table); otherwise the GLPI ticket id is read from the payload and a pull of
that ticket is queued (``sync.pull``): its content is never written from the payload, the engine reads the ticket
from GLPI as the poll does. GLPI's optional challenge (``use_cra_challenge``): ``GET ?crc_token=X`` is answered
with HMAC-SHA256(secret, X) in hex.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any

from procrastinate.exceptions import AlreadyEnqueued

from api import crypto, jobs, sql
from api.db import Conn
from api.errors import NotFound, Unauthorized, ValidationFailed
from api.integrations.glpi.mapping import GlpiConfig
from api.integrations.sync import outbox
from api.settings import Settings

Q = sql.load("api.integrations.glpi", "webhooks.sql")
SIGNATURE_HEADER, TIMESTAMP_HEADER = "X-GLPI-signature", "X-GLPI-timestamp"
CHALLENGE_BODY = "validate_cra_challenge"  # GLPI's crc_token is the signature of this text


def signature(secret: str, body: bytes, timestamp: int | str) -> str:
    """GLPI's ``Webhook::getSignature(body . timestamp, secret)``."""
    return hmac.new(secret.encode(), body + str(timestamp).encode(), hashlib.sha256).hexdigest()


def challenge_answer(secret: str, token: str) -> str:
    """What GLPI expects back from its challenge–response check."""
    return hmac.new(secret.encode(), token.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Target:
    """The connector a webhook names, with its secret decrypted."""

    id: int
    name: str
    enabled: bool
    config: GlpiConfig
    secret: str


async def set_secret(conn: Conn, *, connector_id: int, encrypted: str | None) -> dict[str, Any]:
    row = await (await conn.execute(Q.set_webhook_secret, {"id": connector_id, "encrypted": encrypted})).fetchone()
    assert row is not None
    return dict(row)


async def target(conn: Conn, settings: Settings, *, name: str) -> Target:
    """The named connector; Unauthorized when it has no webhook secret (webhooks are off for it)."""
    row = await (await conn.execute(Q.webhook_target, {"name": name})).fetchone()
    if row is None:
        raise NotFound(f"No sync connector {name!r}.")
    if row["webhook_secret_encrypted"] is None:
        raise Unauthorized(f"Connector {name!r} has no webhook secret: webhooks to it are refused.")
    return Target(id=row["id"], name=row["name"], enabled=row["enabled"], config=GlpiConfig(**row["config"]),
                  secret=crypto.decrypt(settings, row["webhook_secret_encrypted"]))


def verify(target: Target, *, body: bytes, timestamp: str | None, signed: str | None,
           now: float | None = None) -> int:
    """The delivery's timestamp when the signature is GLPI's and the timestamp recent; else Unauthorized."""
    if not timestamp or not signed:
        raise Unauthorized(f"A GLPI webhook carries {SIGNATURE_HEADER} and {TIMESTAMP_HEADER}.")
    if not timestamp.strip().isdigit():
        raise Unauthorized(f"{TIMESTAMP_HEADER} is not unix seconds.")
    if abs((now if now is not None else time.time()) - int(timestamp)) > target.config.webhook_tolerance_s:
        raise Unauthorized(f"{TIMESTAMP_HEADER} is outside the accepted window "
                           f"({target.config.webhook_tolerance_s} s): refused as a possible replay.")
    if not hmac.compare_digest(signature(target.secret, body, timestamp.strip()), signed.strip().lower()):
        raise Unauthorized(f"{SIGNATURE_HEADER} does not match the body: wrong secret or altered payload.")
    return int(timestamp)


def ticket_id(body: bytes) -> int:
    """The GLPI ticket a verified payload is about: ``parent_item`` for a ticket's child, else ``item``."""
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise ValidationFailed("The webhook body is not JSON; use GLPI's default payload.") from exc
    item = payload.get("item") if isinstance(payload, dict) else None
    parent = payload.get("parent_item") if isinstance(payload, dict) else None
    if isinstance(item, dict) and item.get("itemtype") not in (None, "Ticket"):
        raise ValidationFailed(f"The webhook is about a {item.get('itemtype')}'s child, not a ticket's.")
    ref = (parent if isinstance(parent, dict) else item or {}).get("id")
    if isinstance(item, dict) and not isinstance(parent, dict) and item.get("itemtype") == "Ticket":
        ref = item.get("items_id")
    if not isinstance(ref, int) or isinstance(ref, bool) or ref <= 0:
        raise ValidationFailed("The webhook payload names no GLPI ticket (item.id / parent_item.id).")
    return ref


async def accept(conn: Conn, target: Target, *, signed: str, signed_at: int, external_id: int) -> bool:
    """Records the delivery; False when it was accepted before (a replay: do nothing)."""
    await conn.execute(Q.prune_deliveries, {"connector_id": target.id,
                                            "before": time.time() - target.config.webhook_tolerance_s})
    row = await (await conn.execute(Q.record_delivery, {
        "connector_id": target.id, "signature": signed.strip().lower(), "signed_at": signed_at,
        "external_id": str(external_id)})).fetchone()
    return row is not None


def check_challenge(target: Target, token: str) -> str:
    """The answer to GLPI's challenge, only for the token GLPI derives from the secret (no signing oracle)."""
    if not hmac.compare_digest(challenge_answer(target.secret, CHALLENGE_BODY), token.strip().lower()):
        raise Unauthorized("crc_token is not the one GLPI derives from this connector's webhook secret.")
    return challenge_answer(target.secret, token.strip().lower())


@dataclass(frozen=True)
class Received:
    status: str  # queued | duplicate | ignored
    glpi_ticket: int


async def receive(conn: Conn, settings: Settings, *, name: str, body: bytes, timestamp: str | None,
                  signed: str | None) -> Received:
    """Verifies a delivery and queues the pull of the ticket it names (once per delivery)."""
    found = await target(conn, settings, name=name)
    signed_at = verify(found, body=body, timestamp=timestamp, signed=signed)
    external_id = ticket_id(body)
    assert signed is not None
    async with conn.transaction():
        if not await accept(conn, found, signed=signed, signed_at=signed_at, external_id=external_id):
            return Received("duplicate", external_id)
        if not found.enabled:
            return Received("ignored", external_id)
        try:
            async with conn.transaction():  # a savepoint: a pull already waiting is enough
                await jobs.defer(conn, outbox.PULL, queue=outbox.QUEUE, connector_id=found.id,
                                 external_id=str(external_id), queueing_lock=f"sync-pull:{found.id}:{external_id}")
        except AlreadyEnqueued:
            pass
    return Received("queued", external_id)
