"""A fake of Slack's Web API (../shared/specs/slack.md §3-4) on a real loopback HTTP server, for slack_sdk's
aiohttp client, and a signer of the requests Slack sends to the app (§2).

- Bearer token auth: none → ``not_authed``, a wrong one → ``invalid_auth``, both HTTP 200 ``ok:false``.
- ``auth.test``: the bot's identity (team T1, user UBOT, bot BBOT).
- ``users.info`` (GET ``user=``): ``user`` with ``profile.email``; an unknown id → ``user_not_found``.
- ``chat.postMessage`` (JSON or form): ``channel`` and one of ``text``/``blocks`` required (``no_text``); a
  channel not in ``missing_channels`` is there; recorded in ``posted``; ``ratelimit_once()`` answers the next
  call 429 with ``Retry-After: 1``.
- ``chat.postEphemeral``: recorded in ``ephemeral``; ``chat.update`` (``channel``, ``ts``): in ``updated``.
- ``users.lookupByEmail`` (``email=``): the user with that profile address, else ``users_not_found``.
- ``apps.connections.open`` (the app-level token ``xapp-…``, else ``invalid_auth``): the WebSocket URL of
  :class:`FakeSocketMode`, which greets with ``hello``, sends ``events_api`` envelopes (``deliver``) and records
  the client's acknowledgements (``acked``: envelope ids) — Socket Mode as slack_sdk's client speaks it.
No method deskmate calls pages (users.list and conversations.list would: ``response_metadata.next_cursor``).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from aiohttp import WSMsgType, web

TEAM, BOT_USER, BOT_ID = "T1", "UBOT", "BBOT"


@dataclass
class FakeSlack:
    token: str = "xoxb-fake-token"
    app_token: str = "xapp-fake-token"
    url: str = ""
    socket_url: str = ""
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    posted: list[dict[str, Any]] = field(default_factory=list)
    ephemeral: list[dict[str, Any]] = field(default_factory=list)
    updated: list[dict[str, Any]] = field(default_factory=list)
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
        if method == "apps.connections.open":
            return {"ok": True, "url": self.socket_url}
        if method == "users.info":
            if str(args.get("user")) in self.failing_users:
                return {"ok": False, "error": self.failing_users[str(args["user"])]}
            user = self.users.get(str(args.get("user")))
            return {"ok": True, "user": user} if user else {"ok": False, "error": "user_not_found"}
        if method == "users.lookupByEmail":
            found = [u for u in self.users.values() if u["profile"].get("email", "").lower() == str(
                args.get("email", "")).lower()]
            return {"ok": True, "user": found[0]} if found else {"ok": False, "error": "users_not_found"}
        if method == "chat.update":
            if not any(p["channel"] == args.get("channel") and p["ts"] == args.get("ts") for p in self.posted):
                return {"ok": False, "error": "message_not_found"}
            self.updated.append(args)
            return {"ok": True, "channel": args["channel"], "ts": args["ts"], "text": args.get("text", "")}
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
            method = path.removeprefix("/api/")
            token = fake.app_token if method == "apps.connections.open" else fake.token
            if not hmac.compare_digest(auth.removeprefix("Bearer ").encode(), token.encode()):
                return self._send(200, {"ok": False, "error": "invalid_auth"}, {})
            self._send(*fake.call(method, args))

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


class FakeSocketMode:
    """Slack's Socket Mode WebSocket on a loopback port, served by aiohttp on a loop of its own thread."""

    def __init__(self) -> None:
        self.acked: list[str] = []
        self.connected = threading.Event()
        self._sockets: list[web.WebSocketResponse] = []
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self.url = ""
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-slack-socket", daemon=True)

    async def _serve(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._sockets.append(ws)
        await ws.send_json({"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A1"},
                            "debug_info": {"host": "fake", "approximate_connection_time": 18060}})
        self.connected.set()
        async for message in ws:
            if message.type == WSMsgType.TEXT and "envelope_id" in (body := json.loads(message.data)):
                self.acked.append(body["envelope_id"])
        return ws

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_get("/link", self._serve)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"ws://127.0.0.1:{port}/link"

    def deliver(self, payload: dict[str, Any]) -> str:
        """Sends an Events API payload as an ``events_api`` envelope; returns its envelope id."""
        envelope_id = str(uuid.uuid4())
        envelope = {"envelope_id": envelope_id, "type": "events_api", "accepts_response_payload": False,
                    "retry_attempt": 0, "retry_reason": "", "payload": payload}
        asyncio.run_coroutine_threadsafe(self._sockets[-1].send_json(envelope), self._loop).result(10)
        return envelope_id

    def __enter__(self) -> FakeSocketMode:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        async def stop() -> None:
            for ws in self._sockets:
                await ws.close()
            if self._runner is not None:
                await self._runner.cleanup()
        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)


def signed(secret: str, body: str, *, content_type: str = "application/json", at: float | None = None,
           **headers: str) -> dict[str, str]:
    """The headers Slack sends with ``body``: its timestamp (now, or ``at``) and the v0 HMAC signature."""
    ts = str(int(time.time() if at is None else at))
    signature = "v0=" + hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"Content-Type": content_type, "X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature, **headers}


def interaction_body(payload: dict[str, Any]) -> str:
    """An interactivity request's form body: ``payload=<json>``."""
    return urlencode({"payload": json.dumps(payload)})
