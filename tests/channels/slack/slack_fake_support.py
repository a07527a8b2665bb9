"""A fake of Slack's Web API (../shared/specs/slack.md §3-4) on a real loopback HTTP server, for slack_sdk's
aiohttp client, and a signer of the requests Slack sends to the app (§2).

- Bearer token auth: none → ``not_authed``, a wrong one → ``invalid_auth``, both HTTP 200 ``ok:false``.
- ``auth.test``: the bot's identity (team T1, user UBOT, bot BBOT).
- ``users.info`` (GET ``user=``): ``user`` with ``profile.email``; an unknown id → ``user_not_found``.
- ``chat.postMessage`` (JSON or form): ``channel`` and one of ``text``/``blocks`` required (``no_text``); a
  channel not in ``missing_channels`` is there; recorded in ``posted``; ``ratelimit_once()`` answers the next
  call 429 with ``Retry-After: 1``.
- ``chat.postEphemeral``: recorded in ``ephemeral``.
No method deskmate calls pages (users.list and conversations.list would: ``response_metadata.next_cursor``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

TEAM, BOT_USER, BOT_ID = "T1", "UBOT", "BBOT"


@dataclass
class FakeSlack:
    token: str = "xoxb-fake-token"
    url: str = ""
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    posted: list[dict[str, Any]] = field(default_factory=list)
    ephemeral: list[dict[str, Any]] = field(default_factory=list)
    missing_channels: set[str] = field(default_factory=set)
    failing_users: dict[str, str] = field(default_factory=dict)  # users.info answers ok:false with this error
    calls: list[str] = field(default_factory=list)
    _ratelimited: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ts: int = 0

    def add_user(self, user_id: str, email: str | None) -> None:
        profile = {"real_name": user_id, **({"email": email} if email else {})}
        self.users[user_id] = {"id": user_id, "team_id": TEAM, "name": user_id.lower(), "is_bot": False,
                               "profile": profile}

    def ratelimit_once(self) -> None:
        self._ratelimited = 1

    def posts_to(self, channel: str) -> list[dict[str, Any]]:
        return [p for p in self.posted if p["channel"] == channel]

    def call(self, method: str, args: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        with self._lock:
            self.calls.append(method)
            if method == "chat.postMessage" and self._ratelimited:
                self._ratelimited -= 1
                return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "1"}
            return 200, self._answer(method, args), {}

    def _answer(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        if method == "auth.test":
            return {"ok": True, "url": "https://t1.slack.com/", "team": "Team One", "user": "deskmate",
                    "team_id": TEAM, "user_id": BOT_USER, "bot_id": BOT_ID, "is_enterprise_install": False}
        if method == "users.info":
            if str(args.get("user")) in self.failing_users:
                return {"ok": False, "error": self.failing_users[str(args["user"])]}
            user = self.users.get(str(args.get("user")))
            return {"ok": True, "user": user} if user else {"ok": False, "error": "user_not_found"}
        if method in ("chat.postMessage", "chat.postEphemeral"):
            if not args.get("channel") or args["channel"] in self.missing_channels:
                return {"ok": False, "error": "channel_not_found"}
            if not (args.get("text") or args.get("blocks")):
                return {"ok": False, "error": "no_text"}
            if method == "chat.postEphemeral":
                self.ephemeral.append(args)
                return {"ok": True, "message_ts": self._next_ts()}
            ts = self._next_ts()
            self.posted.append({**args, "ts": ts})
            return {"ok": True, "channel": args["channel"], "ts": ts, "message": {
                "type": "message", "text": args.get("text", ""), "user": BOT_USER, "bot_id": BOT_ID, "ts": ts}}
        return {"ok": False, "error": "unknown_method"}

    def _next_ts(self) -> str:
        self._ts += 1
        return f"1800000000.{self._ts:06d}"


def _handler(fake: FakeSlack) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _send(self, status: int, body: dict[str, Any], headers: dict[str, str]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def _args(self) -> dict[str, Any]:
            parts = urlsplit(self.path)
            args: dict[str, Any] = {k: v[0] for k, v in parse_qs(parts.query).items()}
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            if "json" in (self.headers.get("Content-Type") or ""):
                args.update(json.loads(raw or "{}"))
            else:
                args.update({k: v[0] for k, v in parse_qs(raw).items()})
            return args

        def _serve(self) -> None:
            path = urlsplit(self.path).path
            args = self._args()
            if not path.startswith("/api/"):
                return self._send(404, {"ok": False, "error": "not_found"}, {})
            auth = self.headers.get("Authorization") or ""
            if not auth.startswith("Bearer "):
                return self._send(200, {"ok": False, "error": "not_authed"}, {})
            if not hmac.compare_digest(auth.removeprefix("Bearer ").encode(), fake.token.encode()):
                return self._send(200, {"ok": False, "error": "invalid_auth"}, {})
            self._send(*fake.call(path.removeprefix("/api/"), args))

        do_GET = do_POST = _serve  # noqa: N815 - http.server's naming

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


class FakeSlackServer:
    """``with FakeSlackServer() as fake:`` serves the fake at ``fake.url`` (ends in /api/) from a thread."""

    def __init__(self) -> None:
        self.fake = FakeSlack()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self.fake))
        self._server.daemon_threads = True
        self.fake.url = f"http://127.0.0.1:{self._server.server_address[1]}/api/"
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-slack", daemon=True)

    def __enter__(self) -> FakeSlack:
        self._thread.start()
        return self.fake

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def signed(secret: str, body: str, *, content_type: str = "application/json", at: float | None = None,
           **headers: str) -> dict[str, str]:
    """The headers Slack sends with ``body``: its timestamp (now, or ``at``) and the v0 HMAC signature."""
    ts = str(int(time.time() if at is None else at))
    signature = "v0=" + hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"Content-Type": content_type, "X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature, **headers}


def interaction_body(payload: dict[str, Any]) -> str:
    """An interactivity request's form body: ``payload=<json>``."""
    return urlencode({"payload": json.dumps(payload)})
