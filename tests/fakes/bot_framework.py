"""A fake of the Bot Framework around a Teams bot, as a real HTTP server on 127.0.0.1 (../shared/specs/teams.md):

- ``GET /openid``: the OpenID metadata, naming ``GET /keys``, the JWKS (RS256 keys with ``endorsements``);
- ``POST /token``: OAuth2 client credentials (form ``grant_type``, ``client_id``, ``client_secret``, ``scope``)
  → ``{"token_type": "Bearer", "expires_in": 3599, "access_token": …}``; a wrong secret → 401;
- the Bot Connector under ``/`` (the serviceUrl): ``POST /v3/conversations/{id}/activities[/{replyToId}]``
  (Bearer token from ``/token`` required, else 401) → 201 ``{"id": …}``, kept in ``activities``;
  ``PUT /v3/conversations/{id}/activities/{activityId}`` replaces an activity posted before (else 404), kept in
  ``updated``; ``GET /v3/conversations/{id}/members/{userId}`` → the member's profile from ``members``, else 404.
- ``fail_next(status, times, retry_after)`` scripts connector errors (429 with Retry-After, 403, 502) first.

``token(**claims)`` signs a Bot Connector token like the real one (iss https://api.botframework.com, aud the
app id, serviceurl claim), with the served key unless ``key`` names another one.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from pydantic import SecretStr

from api.channels.teams.settings import TeamsSettings

ISSUER = "https://api.botframework.com"
SCOPE = "https://api.botframework.com/.default"


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class Posted:
    path: str
    conversation_id: str
    reply_to: str | None
    authorization: str
    body: dict[str, Any]


@dataclass
class FakeBotFramework:
    app_id: str = field(default_factory=lambda: secrets.token_hex(8))
    client_secret: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    keys: dict[str, rsa.RSAPrivateKey] = field(default_factory=lambda: {"k1": new_key()})
    url: str = ""
    activities: list[Posted] = field(default_factory=list)
    updated: list[Posted] = field(default_factory=list)
    members: dict[str, dict[str, Any]] = field(default_factory=dict)
    issued: list[str] = field(default_factory=list)
    key_fetches: int = 0
    failures: list[tuple[int, str | None]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail_next(self, status: int, times: int = 1, retry_after: str | None = None) -> None:
        with self.lock:
            self.failures.extend([(status, retry_after)] * times)

    def token(self, *, key: rsa.RSAPrivateKey | None = None, kid: str = "k1", **claims: Any) -> str:
        now = int(time.time())
        payload = {"iss": ISSUER, "aud": self.app_id, "serviceurl": self.url + "/", "nbf": now - 5,
                   "exp": now + 3600, **claims}
        return jwt.encode({k: v for k, v in payload.items() if v is not None}, key or self.keys[kid],
                          algorithm="RS256", headers={"kid": kid})

    def teams_settings(self) -> TeamsSettings:
        """Teams configured against this fake (loopback serviceUrls allowed, as only tests do)."""
        return TeamsSettings(app_id=self.app_id, client_secret=SecretStr(self.client_secret), tenant_id="tenant-1",
                             openid_metadata_url=f"{self.url}/openid", token_url=f"{self.url}/token",
                             allow_loopback=True, jwks_cooldown_s=0, _env_file=None)  # type: ignore[call-arg]

    def jwks(self) -> dict[str, Any]:
        keys = []
        for kid, private in self.keys.items():
            jwk = json.loads(RSAAlgorithm.to_jwk(private.public_key()))
            keys.append({**jwk, "kid": kid, "use": "sig", "alg": "RS256", "endorsements": ["msteams"]})
        return {"keys": keys}


class Handler(BaseHTTPRequestHandler):
    fake: FakeBotFramework

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, status: int, body: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body or {}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _authorized(self) -> bool:
        token = self.headers.get("Authorization", "").removeprefix("Bearer ")
        return token in self.fake.issued

    def _scripted_failure(self) -> bool:
        with self.fake.lock:
            failure = self.fake.failures.pop(0) if self.fake.failures else None
        if failure is None:
            return False
        status, retry_after = failure
        self._send(status, {"error": {"code": "Throttled" if status == 429 else "Failed", "message": "scripted"}},
                   {"Retry-After": retry_after} if retry_after is not None else None)
        return True

    def do_GET(self) -> None:  # noqa: N802
        path = urlsplit(self.path).path
        if path == "/openid":
            return self._send(200, {"issuer": ISSUER, "jwks_uri": f"{self.fake.url}/keys",
                                    "id_token_signing_alg_values_supported": ["RS256"]})
        if path == "/keys":
            self.fake.key_fetches += 1
            return self._send(200, self.fake.jwks())
        parts = path.split("/")
        if len(parts) == 6 and parts[1:3] == ["v3", "conversations"] and parts[4] == "members":
            if not self._authorized():
                return self._send(401, {"message": "Authorization has been denied for this request."})
            member = self.fake.members.get(unquote(parts[5]))
            if member is None:
                return self._send(404, {"error": {"code": "MemberNotFoundInConversation", "message": "not found"}})
            return self._send(200, member)
        return self._send(404)

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length)
        path = urlsplit(self.path).path
        if path == "/token":
            form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
            if (form.get("grant_type"), form.get("client_id"), form.get("client_secret"), form.get("scope")) != (
                    "client_credentials", self.fake.app_id, self.fake.client_secret, SCOPE):
                return self._send(401, {"error": "invalid_client"})
            token = "bot-" + secrets.token_urlsafe(12)
            self.fake.issued.append(token)
            return self._send(200, {"token_type": "Bearer", "expires_in": 3599, "access_token": token})
        parts = path.split("/")
        if len(parts) in (5, 6) and parts[1:3] == ["v3", "conversations"] and parts[4] == "activities":
            if not self._authorized():
                return self._send(401, {"message": "Authorization has been denied for this request."})
            if self._scripted_failure():
                return None
            body = json.loads(raw)
            if body.get("type") != "message" or not (body.get("text") or body.get("attachments")):
                return self._send(400, {"error": {"code": "BadArgument", "message": "Activity has no content"}})
            self.fake.activities.append(Posted(path, unquote(parts[3]), unquote(parts[5]) if len(parts) == 6 else None,
                                               self.headers.get("Authorization", ""), body))
            return self._send(201, {"id": f"reply-{len(self.fake.activities)}"})
        return self._send(404)


    def do_PUT(self) -> None:  # noqa: N802
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        parts = urlsplit(self.path).path.split("/")
        if not (len(parts) == 6 and parts[1:3] == ["v3", "conversations"] and parts[4] == "activities"):
            return self._send(404)
        if not self._authorized():
            return self._send(401, {"message": "Authorization has been denied for this request."})
        if self._scripted_failure():
            return None
        conversation, activity_id = unquote(parts[3]), unquote(parts[5])
        posted = [f"reply-{n}" for n, a in enumerate(self.fake.activities, 1) if a.conversation_id == conversation]
        if activity_id not in posted:
            return self._send(404, {"error": {"code": "ActivityNotFoundInConversation", "message": "not found"}})
        self.fake.updated.append(Posted(self.path, conversation, activity_id, self.headers.get("Authorization", ""),
                                        json.loads(raw)))
        return self._send(200, {"id": activity_id})


class FakeBotFrameworkServer:
    def __init__(self) -> None:
        self.fake = FakeBotFramework()
        handler = type("BoundHandler", (Handler,), {"fake": self.fake})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.fake.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeBotFramework:
        self.thread.start()
        return self.fake

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def activity(fake: FakeBotFramework, *, text: str | None = "printer broken", activity_id: str | None = None,
             conversation: str | None = None, user: str = "29:1alice", aad: str = "aad-alice",
             tenant: str = "tenant-1", **extra: Any) -> dict[str, Any]:
    """A Teams message activity as the Bot Connector posts it."""
    return {"type": "message", "id": activity_id or secrets.token_hex(6), "serviceUrl": fake.url + "/",
            "channelId": "msteams", "timestamp": "2026-12-07T10:00:00.000Z",
            "from": {"id": user, "name": "Alice", "aadObjectId": aad},
            "conversation": {"id": conversation or f"a:{secrets.token_hex(8)}", "conversationType": "personal", "tenantId": tenant},
            "recipient": {"id": f"28:{fake.app_id}", "name": "deskmate"}, "text": text, "locale": "en-US",
            "channelData": {"tenant": {"id": tenant}}, **extra}
