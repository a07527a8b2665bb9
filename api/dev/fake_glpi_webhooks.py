"""The fake GLPI's outgoing webhooks, as GLPI 11's ``Webhook::raise`` and ``QueuedWebhook::sendById`` do them.

A webhook (``FakeWebhook``: url, secret, itemtypes) fires on ``new`` and ``update`` of those itemtypes. The body is
``{"item": …, "event": …}`` (plus ``parent_item``, the ticket, for a follow-up or solution), pretty-printed JSON
with the item in the High-Level API's shape; the headers ``X-GLPI-signature`` = HMAC-SHA256(secret, body +
timestamp) in hex and ``X-GLPI-timestamp`` = unix seconds at queueing. Deliveries wait in
``FakeGlpi.queued_webhooks`` (GLPI's queue, sent by its cron): ``take_webhooks()`` hands them to a test, which
posts them where it likes; with ``FakeGlpi.send_webhook`` set they are handed to it at once instead.
``post_delivery`` posts one over HTTP (``deskmate dev fake-glpi``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

DATE = "%Y-%m-%d %H:%M:%S"
STATUS_NAMES = {1: "New", 2: "Processing (assigned)", 3: "Processing (planned)", 4: "Pending", 5: "Solved",
                6: "Closed"}
HL_NAMES = {"ITILFollowup": "Followup", "ITILSolution": "Solution"}


@dataclass(frozen=True)
class FakeWebhook:
    """One webhook configured in the fake's Setup > Webhooks."""

    url: str
    secret: str
    itemtypes: frozenset[str] = frozenset({"Ticket", "ITILFollowup", "ITILSolution"})
    events: frozenset[str] = frozenset({"new", "update"})


@dataclass
class Delivery:
    """One queued webhook request."""

    url: str
    headers: dict[str, str]
    body: bytes
    itemtype: str = ""
    event: str = ""
    meta: dict[str, Any] = field(default_factory=dict)


def _iso(value: Any) -> Any:
    try:
        return datetime.strptime(str(value), DATE).isoformat()
    except ValueError:
        return value


def hl_ticket(row: dict[str, Any]) -> dict[str, Any]:
    """A legacy ticket row in the High-Level API's Ticket shape (the part the sync cares about)."""
    return {"id": row["id"], "name": row.get("name", ""), "content": row.get("content", ""),
            "type": row.get("type"), "status": {"id": row.get("status"), "name": STATUS_NAMES.get(int(row.get("status") or 0), "")},
            "urgency": row.get("urgency"), "impact": row.get("impact"), "priority": row.get("priority"),
            "category": {"id": row.get("itilcategories_id") or None}, "entity": {"id": row.get("entities_id", 0)},
            "external_id": row.get("externalid", ""), "is_deleted": bool(row.get("is_deleted")),
            "date": _iso(row.get("date")), "date_creation": _iso(row.get("date_creation")),
            "date_mod": _iso(row.get("date_mod"))}


def hl_child(row: dict[str, Any]) -> dict[str, Any]:
    """A follow-up or solution in the High-Level API's Timeline shape."""
    return {"id": row["id"], "itemtype": row.get("itemtype", "Ticket"), "items_id": row["items_id"],
            "content": row.get("content", ""), "is_private": bool(row.get("is_private")),
            "date_creation": _iso(row.get("date_creation")), "date_mod": _iso(row.get("date_mod"))}


def sign(secret: str, body: bytes, timestamp: int | str) -> str:
    return hmac.new(secret.encode(), body + str(timestamp).encode(), hashlib.sha256).hexdigest()


def build(hook: FakeWebhook, *, event: str, itemtype: str, row: dict[str, Any],
          ticket: dict[str, Any] | None, now: int | None = None) -> Delivery:
    """The signed request GLPI queues for one webhook and one change."""
    payload: dict[str, Any] = {"item": hl_ticket(row) if itemtype == "Ticket" else hl_child(row), "event": event}
    if itemtype != "Ticket" and ticket is not None:
        payload["parent_item"] = hl_ticket(ticket)
    body = json.dumps(payload, indent=4).encode()
    timestamp = int(time.time()) if now is None else now
    headers = {"X-GLPI-signature": sign(hook.secret, body, timestamp), "X-GLPI-timestamp": str(timestamp),
               "Content-Type": "application/json"}
    return Delivery(url=hook.url, headers=headers, body=body, itemtype=HL_NAMES.get(itemtype, itemtype), event=event)


def post_delivery(delivery: Delivery, *, timeout_s: float = 5.0) -> int:
    """Sends one delivery over HTTP as GLPI's queue does (5 s timeout); returns the status (0: no answer)."""
    request = urllib.request.Request(delivery.url, data=delivery.body, headers=delivery.headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as answer:  # noqa: S310 (the admin's URL)
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError:
        return 0
