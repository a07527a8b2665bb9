"""Who may post activities: the Bot Connector, proved by its JWT (Bot Connector authentication, specs/teams.md §1).

Checked here with PyJWT rather than the Agents SDK's ``JwtTokenValidator``: the SDK picks the JWKS address from
the token's issuer out of a built-in table (it cannot be pointed at another OpenID metadata document, so no local
fake in tests), checks the issuer only when asked to, and leaves the ``serviceurl`` claim to the caller.

A token passes when it is RS256-signed by a key of the JWKS the OpenID metadata names (cached; an unknown ``kid``
refetches the set), its ``iss`` is a configured issuer, its ``aud`` the bot's app id, it is within ``nbf``/``exp``
(5 minutes' skew) and its ``serviceurl`` claim is the activity's serviceUrl — the only address replies go to.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import httpx
import jwt
from jwt import PyJWKClient

from api.channels.teams.settings import TeamsSettings
from api.errors import Unauthorized

log = logging.getLogger(__name__)
SKEW_S = 300
METADATA_TTL_S = 24 * 3600


class TokenVerifier:
    """Verifies the Bot Connector's bearer tokens against the configured OpenID metadata."""

    def __init__(self, settings: TeamsSettings, client: httpx.AsyncClient) -> None:
        self.settings = settings
        self._client = client
        self._keys: PyJWKClient | None = None
        self._keys_until = 0.0
        self._lock = asyncio.Lock()

    async def _key_set(self) -> PyJWKClient:
        """The JWKS client for the metadata's ``jwks_uri``; the metadata is read again once a day."""
        async with self._lock:
            if self._keys is None or time.monotonic() > self._keys_until:
                response = await self._client.get(self.settings.openid_metadata_url)
                response.raise_for_status()
                self._keys = PyJWKClient(response.json()["jwks_uri"], cache_keys=True, lifespan=METADATA_TTL_S,
                                         timeout=self.settings.timeout_s,
                                         cooldown_duration=self.settings.jwks_cooldown_s)
                self._keys_until = time.monotonic() + METADATA_TTL_S
            return self._keys

    async def _decode(self, token: str) -> dict[str, Any]:
        kid = jwt.get_unverified_header(token).get("kid")
        if not isinstance(kid, str):
            raise jwt.InvalidTokenError("the token names no key")
        keys = await self._key_set()
        key = await asyncio.to_thread(keys.get_signing_key, kid)  # PyJWKClient fetches with urllib
        return jwt.decode(token, key, algorithms=["RS256"], audience=self.settings.app_id,
                          issuer=self.settings.issuers, leeway=SKEW_S,
                          options={"require": ["exp", "iss", "aud"]})

    async def verify(self, authorization: str | None, *, service_url: str | None) -> dict[str, Any]:
        """The token's claims; :class:`Unauthorized` unless it is the Bot Connector's, for this serviceUrl."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("Teams activities need the Bot Connector's bearer token.")
        try:
            claims = await self._decode(token.strip())
        except (jwt.PyJWTError, httpx.HTTPError, KeyError, ValueError) as exc:
            log.warning("teams token refused", extra={"kind": type(exc).__name__, "error": str(exc)})
            raise Unauthorized("The Bot Connector token is not valid.") from exc
        claimed = claims.get("serviceurl") or claims.get("serviceUrl")
        if not service_url or not isinstance(claimed, str) or claimed.rstrip("/") != service_url.rstrip("/"):
            log.warning("teams token for another serviceUrl", extra={"service_url": service_url})
            raise Unauthorized("The Bot Connector token was issued for another serviceUrl.")
        return claims
