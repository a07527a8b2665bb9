"""OpenID Connect sign-in: the authorization code flow with PKCE, against one provider (DESKMATE_OIDC_*).

    provider = OidcProvider(settings.oidc)              # one per app (app.state.oidc), caches discovery and keys
    url, pending = await provider.begin(redirect_uri)   # state, nonce and PKCE verifier to keep until the callback
    claims = await provider.finish(code=…, state=…, pending=pending, redirect_uri=…)

authlib's httpx client builds the authorization URL (S256 code challenge) and redeems the code; joserfc checks
the id token: signature by the provider's JWKS (fetched again once for an unknown key id), ``iss`` equal to
the configured issuer, ``aud`` containing the client id (``azp`` too when there are several audiences),
``exp``/``iat`` with a minute's leeway, and the ``nonce`` of this browser's attempt. The pending attempt
travels in a short-lived cookie encrypted with the secrets-at-rest keys (api/crypto.py), so it cannot be read
or forged, and ``state`` must equal the one in that cookie.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import asdict, dataclass
from typing import Any

import httpx
from authlib.integrations.httpx_client import AsyncOAuth2Client
from authlib.oauth2.rfc6749.errors import OAuth2Error
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet

from api import crypto
from api.crypto import SecretUnreadable
from api.errors import BadRequest, IntegrationError
from api.settings import Settings
from api.web.signin.settings import OidcSettings

PENDING_COOKIE = "deskmate-oidc"
PENDING_TTL_S = 600
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"]
LEEWAY_S = 60


class SignInFailed(BadRequest):
    type, title = "/problems/signin-failed", "The sign-in could not be completed"


class ProviderUnavailable(IntegrationError):
    type, title = "/problems/oidc-provider", "The sign-in provider did not answer as expected"


@dataclass(frozen=True)
class Pending:
    """One browser's sign-in attempt, between the redirect to the provider and its way back."""

    state: str
    nonce: str
    verifier: str
    next: str
    expires: float

    def seal(self, settings: Settings) -> str:
        return crypto.encrypt(settings, json.dumps(asdict(self)))

    @classmethod
    def unseal(cls, settings: Settings, sealed: str | None) -> Pending:
        """The attempt in the cookie; SignInFailed when there is none, it was altered, or it is too old."""
        try:
            pending = cls(**json.loads(crypto.decrypt(settings, sealed or "")))
        except (SecretUnreadable, ValueError, TypeError) as exc:
            raise SignInFailed("This sign-in was not started in this browser, or it took too long. "
                               "Start again.") from exc
        if pending.expires < time.time():
            raise SignInFailed("This sign-in took too long. Start again.")
        return pending


class OidcProvider:
    """The configured provider: its discovery document and signing keys, fetched when first needed."""

    def __init__(self, settings: OidcSettings) -> None:
        if not (settings.issuer and settings.client_id):
            raise ValueError("OpenID Connect needs DESKMATE_OIDC_ISSUER and DESKMATE_OIDC_CLIENT_ID")
        self.settings = settings
        self.issuer, self.client_id = settings.issuer, settings.client_id
        self._metadata: dict[str, Any] | None = None
        self._keys: KeySet | None = None

    def _client(self, redirect_uri: str) -> AsyncOAuth2Client:
        s = self.settings
        secret = s.client_secret.get_secret_value() if s.client_secret else None
        return AsyncOAuth2Client(client_id=s.client_id, client_secret=secret, scope=s.scopes,
                                 redirect_uri=redirect_uri, code_challenge_method="S256", timeout=s.timeout_s,
                                 token_endpoint_auth_method="client_secret_basic" if secret else "none")

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            async with httpx.AsyncClient(timeout=self.settings.timeout_s) as http:
                response = await http.get(url)
                response.raise_for_status()
                body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ProviderUnavailable(f"Cannot read {url}: {type(exc).__name__}: {exc}") from exc
        if not isinstance(body, dict):
            raise ProviderUnavailable(f"{url} did not answer with a JSON object.")
        return body

    async def metadata(self) -> dict[str, Any]:
        if self._metadata is None:
            meta = await self._get_json(self.settings.metadata_url)
            missing = [k for k in ("authorization_endpoint", "token_endpoint", "jwks_uri") if k not in meta]
            if missing:
                raise ProviderUnavailable(f"The discovery document lacks {', '.join(missing)}.")
            self._metadata = meta
        return self._metadata

    async def _key_set(self, *, refresh: bool = False) -> KeySet:
        if self._keys is None or refresh:
            self._keys = KeySet.import_key_set(await self._get_json((await self.metadata())["jwks_uri"]))  # type: ignore[arg-type]
        return self._keys

    async def begin(self, redirect_uri: str, *, next_path: str) -> tuple[str, Pending]:
        """The provider's authorization URL and the attempt to keep in the browser until the callback."""
        pending = Pending(state=secrets.token_urlsafe(24), nonce=secrets.token_urlsafe(24),
                          verifier=secrets.token_urlsafe(48), next=next_path, expires=time.time() + PENDING_TTL_S)
        async with self._client(redirect_uri) as client:
            url, _ = client.create_authorization_url((await self.metadata())["authorization_endpoint"],
                                                     state=pending.state, code_verifier=pending.verifier,
                                                     nonce=pending.nonce)
        return url, pending

    async def finish(self, *, code: str, state: str, pending: Pending, redirect_uri: str) -> dict[str, Any]:
        """The verified id token's claims; SignInFailed for a wrong state or token, ProviderUnavailable when
        the provider cannot be reached."""
        if not secrets.compare_digest(state.encode(), pending.state.encode()):
            raise SignInFailed("The answer from the sign-in provider does not belong to this browser's sign-in "
                               "(state mismatch). Start again.")
        async with self._client(redirect_uri) as client:
            try:
                token = await client.fetch_token((await self.metadata())["token_endpoint"], code=code,
                                                 code_verifier=pending.verifier)
            except OAuth2Error as exc:
                raise SignInFailed(f"The sign-in provider refused the code: {exc.error}.") from exc
            except httpx.HTTPError as exc:
                raise ProviderUnavailable(f"Cannot redeem the code: {type(exc).__name__}: {exc}") from exc
        if not isinstance(token.get("id_token"), str):
            raise SignInFailed("The sign-in provider sent no id token (is the 'openid' scope requested?).")
        return await self.verify_id_token(token["id_token"], nonce=pending.nonce)

    async def _decode(self, id_token: str) -> jwt.Token:
        try:
            return jwt.decode(id_token, await self._key_set(), algorithms=ALGORITHMS)
        except InvalidKeyIdError:  # no key with this id: the provider may have rotated its keys
            return jwt.decode(id_token, await self._key_set(refresh=True), algorithms=ALGORITHMS)

    async def verify_id_token(self, id_token: str, *, nonce: str) -> dict[str, Any]:
        """The claims of ``id_token`` once its signature, issuer, audience, expiry and nonce are right."""
        registry = jwt.JWTClaimsRegistry(
            leeway=LEEWAY_S, iss={"essential": True, "value": self.issuer},
            aud={"essential": True, "value": self.client_id},
            sub={"essential": True}, exp={"essential": True}, iat={"essential": True},
            nonce={"essential": True, "value": nonce})
        try:
            claims = (await self._decode(id_token)).claims
            registry.validate(claims)
        except (JoseError, ValueError) as exc:
            raise SignInFailed(f"The id token from the sign-in provider is not valid: {exc}") from exc
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != self.client_id:
            raise SignInFailed("The id token is meant for several clients but not authorised for this one (azp).")
        return dict(claims)

    def email_of(self, claims: dict[str, Any]) -> str:
        """The e-mail address the claims give (``DESKMATE_OIDC_EMAIL_CLAIM``); SignInFailed without one, or
        when the provider says it is not verified."""
        email = claims.get(self.settings.email_claim)
        if not isinstance(email, str) or "@" not in email:
            raise SignInFailed(f"The sign-in provider gave no e-mail address (claim {self.settings.email_claim!r}).")
        if claims.get("email_verified") is False:
            raise SignInFailed(f"The sign-in provider has not verified {email}.")
        return email
