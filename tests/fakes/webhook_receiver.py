"""A webhook receiver the way an integrator should write one, for tests: real HTTP on 127.0.0.1.

It checks ``X-Deskmate-Signature`` (HMAC-SHA256 over ``"{timestamp}." + body``, recomputed here, not
with deskmate's code) and refuses stale timestamps (replay), answering 401; it keeps the delivery ids
it accepted and answers a repeat with 200 ``{"duplicate": true}`` without accepting it again.

``answers`` scripts status codes (first in, first out; 200 when empty); ``on_accept`` runs after a
delivery is accepted and before the answer is written (the crash test kills the worker there).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Seen:
    key: str
    signature_ok: bool
    fresh: bool
    status: int
    payload: dict[str, Any] | None


@dataclass
class Receiver:
    secret: str
    tolerance_s: int = 300
    answers: list[int] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    accepted: dict[str, dict[str, Any]] = field(default_factory=dict)
    on_accept: Callable[[str], None] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    changed: threading.Condition = field(default_factory=threading.Condition)

    def wait_for(self, predicate: Callable[[Receiver], bool], timeout: float = 60) -> bool:
        """Blocks until ``predicate(self)`` holds (re-checked on every request) or the timeout passes."""
        with self.changed:
            return self.changed.wait_for(lambda: predicate(self), timeout=timeout)

    def handle(self, headers: dict[str, str], body: bytes) -> int:
        key = headers.get("x-deskmate-delivery", "")
        timestamp = headers.get("x-deskmate-timestamp", "")
        expected = "sha256=" + hmac.new(self.secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
        signature_ok = hmac.compare_digest(expected, headers.get("x-deskmate-signature", ""))
        fresh = timestamp.isdigit() and abs(time.time() - int(timestamp)) <= self.tolerance_s
        with self.lock:
            status = self.answers.pop(0) if self.answers else 200
            if not (signature_ok and fresh):
                status = 401
            first = status == 200 and key not in self.accepted
            if first:
                self.accepted[key] = json.loads(body)
            self.seen.append(Seen(key, signature_ok, fresh, status, json.loads(body) if body else None))
        if first and self.on_accept:
            self.on_accept(key)
        with self.changed:
            self.changed.notify_all()
        return status


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        receiver = self.server.receiver
        duplicate = self.headers.get("X-Deskmate-Delivery", "") in receiver.accepted
        status = receiver.handle({k.lower(): v for k, v in self.headers.items()}, body)
        data = json.dumps({"ok": status == 200, "duplicate": duplicate and status == 200}).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:  # the sender is gone (killed mid-request)
            pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, receiver: Receiver) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.receiver = receiver


class ReceiverServer:
    def __init__(self, receiver: Receiver) -> None:
        self.receiver = receiver
        self._server = _Server(receiver)
        self._thread = threading.Thread(target=self._server.serve_forever, name="webhook-receiver", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hooks/deskmate"

    def __enter__(self) -> ReceiverServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
