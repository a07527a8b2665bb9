"""The Bot Connector REST API, the only code that calls it (specs/teams.md §2).

Every call carries a bot token (OAuth2 client credentials at the configured token endpoint, cached until a minute
before it expires) and goes to a serviceUrl that came in a verified activity and is on the allow-list of connector
hosts. A 429 is waited out (Retry-After, capped) a few times; any other refusal raises ChannelDeliveryFailed.

The token is the client-credentials grant, one form POST, made here rather than with MSAL: MSAL accepts only an
https authority and runs its OpenID discovery against it first, which no local fake in the tests can serve.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import logging
import time
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from api.channels.teams.settings import TeamsSettings
from api.errors import ChannelDeliveryFailed

log = logging.getLogger(__name__)
TOKEN_MARGIN_S = 60
# bot tokens of this process, shared by every BotConnector (a proactive message builds its own): (token endpoint,
# app id, secret digest, scope) → (token, monotonic expiry)
_tokens: dict[tuple[str, str, str, str], tuple[str, float]] = {}
LOOPBACK_NAMES = {"localhost"}


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host in LOOPBACK_NAMES


def host_allowed(settings: TeamsSettings, service_url: str) -> bool:
    """https to a connector host (``*.botframework.com`` matches its subdomains); loopback only when allowed."""
    parts = urlsplit(service_url)
    host = (parts.hostname or "").lower()
    if settings.allow_loopback and _is_loopback(host):
        return parts.scheme in ("http", "https")
    if parts.scheme != "https":
        return False
    return any(host.endswith(pattern[1:].lower()) if pattern.startswith("*.") else host == pattern.lower()
               for pattern in settings.connector_hosts)


def _retry_after(response: httpx.Response) -> float:
    try:
        return max(0.0, float(response.headers.get("retry-after", "1")))
    except ValueError:
        return 1.0


class BotConnector:
    """Bot Connector calls for one bot (its app id and secret)."""

    def __init__(self, settings: TeamsSettings, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.settings = settings
        self.client = httpx.AsyncClient(timeout=settings.timeout_s, follow_redirects=False, transport=transport)
        self._token_lock = asyncio.Lock()

    async def aclose(self) -> None:
        await self.client.aclose()

    def _key(self) -> tuple[str, str, str, str]:
        secret = self.settings.client_secret.get_secret_value() if self.settings.client_secret else ""
        return (self.settings.token_endpoint, self.settings.app_id or "",
                hashlib.sha256(secret.encode()).hexdigest(), self.settings.token_scope)

    async def token(self) -> str:
        """A bot token for the Bot Connector, from the process's cache while it is valid."""
        key = self._key()
        async with self._token_lock:
            cached = _tokens.get(key)
            if cached is None or time.monotonic() >= cached[1]:
                cached = _tokens[key] = await self._fetch_token()
            return cached[0]

    def _forget_token(self) -> None:
        _tokens.pop(self._key(), None)

    async def _fetch_token(self) -> tuple[str, float]:
        secret = self.settings.client_secret
        form = {"grant_type": "client_credentials", "client_id": self.settings.app_id or "",
                "client_secret": secret.get_secret_value() if secret else "", "scope": self.settings.token_scope}
        try:
            response = await self.client.post(self.settings.token_endpoint, data=form)
            response.raise_for_status()
            body = response.json()
            return str(body["access_token"]), time.monotonic() + float(body.get("expires_in", 3600)) - TOKEN_MARGIN_S
        except (httpx.HTTPError, KeyError, ValueError) as exc:
            raise ChannelDeliveryFailed(f"No bot token from the token endpoint: {type(exc).__name__}.") from exc

    async def _call(self, method: str, service_url: str, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        if not host_allowed(self.settings, service_url):
            raise ChannelDeliveryFailed(f"{urlsplit(service_url).hostname} is not a Bot Connector host.", permanent=True)
        url = service_url.rstrip("/") + path
        for attempt in range(self.settings.retries + 1):
            headers = {"Authorization": f"Bearer {await self.token()}"}
            try:
                response = await self.client.request(method, url, json=body, headers=headers)
            except httpx.HTTPError as exc:
                raise ChannelDeliveryFailed(f"The Bot Connector did not answer: {type(exc).__name__}.") from exc
            if response.status_code == 401 and attempt < self.settings.retries:
                self._forget_token()  # revoked or from a restarted token service: a new one, once more
                continue
            if response.status_code != 429 or attempt == self.settings.retries:
                break
            await asyncio.sleep(min(_retry_after(response), self.settings.max_retry_after_s))
        if response.is_success:
            return response
        raise ChannelDeliveryFailed(f"The Bot Connector answered {response.status_code}.",
                                    permanent=response.status_code in (400, 403, 404))

    async def send(self, service_url: str, conversation_id: str, activity: dict[str, Any], *,
                   reply_to: str | None = None) -> str | None:
        """Posts the activity to the conversation (in reply to ``reply_to``); the new activity's id."""
        path = f"/v3/conversations/{quote(conversation_id, safe='')}/activities"
        if reply_to:
            path += f"/{quote(reply_to, safe='')}"
        response = await self._call("POST", service_url, path, activity)
        return (response.json() if response.content else {}).get("id")

    async def update(self, service_url: str, conversation_id: str, activity_id: str, activity: dict[str, Any]) -> None:
        """Replaces the bot's earlier activity (a card whose buttons were used) with ``activity``."""
        path = f"/v3/conversations/{quote(conversation_id, safe='')}/activities/{quote(activity_id, safe='')}"
        await self._call("PUT", service_url, path, {**activity, "id": activity_id})

    async def member(self, service_url: str, conversation_id: str, user_id: str) -> dict[str, Any]:
        """The conversation member's profile (``userPrincipalName``, ``email``, ``aadObjectId`` …)."""
        path = f"/v3/conversations/{quote(conversation_id, safe='')}/members/{quote(user_id, safe='')}"
        return (await self._call("GET", service_url, path)).json()  # type: ignore[no-any-return]
