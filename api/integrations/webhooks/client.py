"""Signed outbound webhooks: a JSON POST signed with a secret, to a public address checked by the outbound guard.

Headers a receiver sees:

    X-Deskmate-Delivery: dlv_…            the same on every retry of one delivery (also Idempotency-Key)
    X-Deskmate-Timestamp: 1767603600      unix seconds when this attempt was signed
    X-Deskmate-Signature: sha256=<hex>    HMAC-SHA256(secret, f"{timestamp}." + body)
    X-Deskmate-Event: created

A receiver recomputes the signature over the raw body, refuses timestamps older than a few minutes
(replay), and keeps the delivery ids it accepted, answering 2xx again for a repeat (``verify`` below).
2xx is success; 408, 425, 429, 5xx or no answer are retried with backoff; 3xx and other 4xx are final.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass

import httpx

from api.errors import OutboundRefused, WebhookError
from api.integrations.outbound import OutboundGuard, tls_context
from api.integrations.webhooks.settings import WebhookSettings

SIGNATURE_HEADER, TIMESTAMP_HEADER, DELIVERY_HEADER = "X-Deskmate-Signature", "X-Deskmate-Timestamp", "X-Deskmate-Delivery"
RETRYABLE = frozenset({408, 425, 429})


def sign(secret: str, timestamp: int, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def verify(secret: str, *, body: bytes, timestamp: str, signature: str, tolerance_s: int = 300,
           now: float | None = None) -> bool:
    """For receivers: the signature matches and the timestamp is recent."""
    if not timestamp.isdigit() or abs((now or time.time()) - int(timestamp)) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, int(timestamp), body), signature)


@dataclass(frozen=True)
class Sent:
    http_status: int
    retry_after_s: float | None = None


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    return float(value) if value.isdigit() else None


class WebhookClient:
    """Posts signed JSON bodies. Raises WebhookError (``permanent`` when retrying cannot help)."""

    def __init__(self, settings: WebhookSettings, *, guard: OutboundGuard) -> None:
        self.settings, self.guard = settings, guard

    async def post(self, *, url: str, body: bytes, secret: str, delivery_key: str, event: str) -> Sent:
        """Sends one attempt of a delivery (the same ``delivery_key`` and ``body`` on every attempt)."""
        try:
            target = await self.guard.resolve(url)
        except OutboundRefused as exc:
            raise WebhookError(exc.detail, permanent=exc.permanent) from exc
        timeout_s = self.settings.timeout_s
        timestamp = int(time.time())
        headers = {
            "Host": target.host_header, "Content-Type": "application/json", "User-Agent": "deskmate-webhooks/1",
            DELIVERY_HEADER: delivery_key, "Idempotency-Key": delivery_key, "X-Deskmate-Event": event,
            TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: sign(secret, timestamp, body),
        }
        extensions = {"sni_hostname": target.sni_hostname} if target.sni_hostname else {}
        try:
            async with httpx.AsyncClient(timeout=timeout_s, follow_redirects=False, verify=tls_context()) as http:
                response = await http.post(target.url, content=body, headers=headers, extensions=extensions)
        except httpx.TimeoutException as exc:
            raise WebhookError(f"No answer from {target.host_header} in {timeout_s:g} s.") from exc
        except httpx.HTTPError as exc:
            raise WebhookError(f"Cannot reach {target.host_header}: {type(exc).__name__}: {exc}") from exc
        if response.is_success:
            return Sent(http_status=response.status_code)
        status = response.status_code
        permanent = 300 <= status < 500 and status not in RETRYABLE  # redirects are not followed: final too
        raise WebhookError(f"{target.host_header} answered {status} {response.reason_phrase}: {response.text[:200]}",
                           http_status=status, permanent=permanent, retry_after_s=_retry_after(response))
