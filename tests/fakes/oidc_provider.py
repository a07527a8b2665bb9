"""A fake OpenID Connect provider on 127.0.0.1: discovery, JWKS, authorize and token, with real RS256 id tokens.

It is as strict as a real provider about what deskmate sends: ``/authorize`` needs the registered client id
and redirect URI, ``response_type=code``, the ``openid`` scope, a ``state``, a ``nonce`` and an S256 PKCE
challenge, and signs in ``fake.email`` at once (no login form) by redirecting back with a one-time code.
``/token`` needs HTTP Basic client authentication, the code (once), the same redirect URI and the PKCE
verifier, and answers with an id token signed by a key it generated (published at ``/jwks``).

Knobs for the bad cases: ``fake.audience`` (the id token's ``aud``), ``fake.lifetime_s`` (negative: already
expired), ``fake.email`` and ``fake.email_verified``; ``fake.key = new_key("k2")`` rotates the published key,
``fake.signing_key`` signs with a key that is not published. ``fake.authorize_requests`` keeps what it was sent.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from fakes.serving import LoopbackServer
from joserfc import jwt
from joserfc.jwk import RSAKey

CLIENT_ID = "deskmate-test"
CLIENT_SECRET = "oidc-client-secret-" + secrets.token_hex(8)


def new_key(kid: str) -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig"})


@dataclass
class FakeOidc:
    issuer: str = ""
    redirect_uris: set[str] = field(default_factory=set)  # any when empty
    email: str = "someone@example.com"
    email_verified: bool | None = True
    audience: str = CLIENT_ID
    lifetime_s: int = 300
    key: RSAKey = field(default_factory=lambda: new_key("k1"))  # published at /jwks
    signing_key: RSAKey | None = None  # signs id tokens instead of ``key`` when set (a forged token)
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    authorize_requests: list[dict[str, str]] = field(default_factory=list)

    def discovery(self) -> dict[str, Any]:
        return {"issuer": self.issuer, "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token", "jwks_uri": f"{self.issuer}/jwks",
                "response_types_supported": ["code"], "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"], "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic"]}

    def authorize(self, q: dict[str, str]) -> tuple[int, dict[str, str]]:
        """(status, headers): a redirect back with a code, or 400 for a request a real provider refuses."""
        self.authorize_requests.append(q)
        wanted = {"client_id": CLIENT_ID, "response_type": "code", "code_challenge_method": "S256"}
        if any(q.get(k) != v for k, v in wanted.items()) or "openid" not in q.get("scope", "").split():
            return 400, {}
        if not all(q.get(k) for k in ("state", "nonce", "code_challenge", "redirect_uri")):
            return 400, {}
        if self.redirect_uris and q["redirect_uri"] not in self.redirect_uris:
            return 400, {}
        code = secrets.token_urlsafe(16)
        self.codes[code] = q
        return 302, {"Location": f"{q['redirect_uri']}?{urlencode({'code': code, 'state': q['state']})}"}

    def token(self, form: dict[str, str], authorization: str) -> tuple[int, dict[str, Any]]:
        basic = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if authorization != basic:
            return 401, {"error": "invalid_client"}
        asked = self.codes.pop(form.get("code", ""), None)
        if form.get("grant_type") != "authorization_code" or asked is None:
            return 400, {"error": "invalid_grant"}
        challenge = base64.urlsafe_b64encode(hashlib.sha256(form.get("code_verifier", "").encode()).digest())
        if challenge.rstrip(b"=").decode() != asked["code_challenge"] or form.get("redirect_uri") != asked["redirect_uri"]:
            return 400, {"error": "invalid_grant"}
        now = int(time.time())
        claims = {"iss": self.issuer, "sub": "sub-" + hashlib.sha256(self.email.encode()).hexdigest()[:12],
                  "aud": self.audience, "iat": now, "exp": now + self.lifetime_s, "nonce": asked["nonce"],
                  "email": self.email, "name": "Fake Person"}
        if self.email_verified is not None:
            claims["email_verified"] = self.email_verified
        id_token = jwt.encode({"alg": "RS256", "kid": self.key.kid}, claims, self.signing_key or self.key)
        return 200, {"access_token": secrets.token_urlsafe(16), "token_type": "Bearer", "expires_in": 300,
                     "id_token": id_token}


class Handler(BaseHTTPRequestHandler):
    server: Any

    def _send(self, status: int, body: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        fake: FakeOidc = self.server.fake
        url = urlsplit(self.path)
        if url.path == "/.well-known/openid-configuration":
            self._send(200, fake.discovery())
        elif url.path == "/jwks":
            self._send(200, {"keys": [fake.key.as_dict(private=False)]})
        elif url.path == "/authorize":
            status, headers = fake.authorize({k: v[0] for k, v in parse_qs(url.query).items()})
            self._send(status, None if status == 302 else {"error": "invalid_request"}, headers)
        else:
            self._send(404, {"error": "not_found"})

    def do_POST(self) -> None:  # noqa: N802
        fake: FakeOidc = self.server.fake
        if urlsplit(self.path).path != "/token":
            self._send(404, {"error": "not_found"})
            return
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        form = {k: v[0] for k, v in parse_qs(raw).items()}
        status, body = fake.token(form, self.headers.get("Authorization", ""))
        self._send(status, body)

    def log_message(self, *args: object) -> None:
        pass


class FakeOidcServer(LoopbackServer[FakeOidc]):
    """``with FakeOidcServer() as server:`` serves the provider; ``server.fake.issuer`` is its URL."""

    def __init__(self) -> None:
        super().__init__(FakeOidc(), Handler, name="fake-oidc")
        self.fake.issuer = self.url
