"""Fixtures of the action tests: a fake deskmate api and tracker builders.

These tests need rasa_sdk, which only the Rasa environment (.venv-rasa) has; under the
backend's Python 3.11 environment they are not collected.
"""
from __future__ import annotations

import contextlib
import importlib.util
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

if importlib.util.find_spec("rasa_sdk") is None:  # backend environment: nothing to run here
    collect_ignore_glob = ["test_*.py"]

TOKEN = "test-service-token"


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


@dataclass
class FakeApi:
    """A local HTTP server answering like the deskmate api; records every request."""

    url: str = ""
    routes: dict[tuple[str, str], tuple[int, Any]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)

    def on(self, method: str, path: str, status: int, body: Any) -> None:
        self.routes[(method, path)] = (status, body)

    def problem(self, method: str, path: str, status: int, title: str, detail: str = "") -> None:
        self.on(method, path, status, {"type": "about:blank", "title": title,
                                       "status": status, "detail": detail})


def _handler(api: FakeApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            api.requests.append(Recorded(
                method=self.command, path=parts.path, query=parse_qs(parts.query),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=json.loads(raw) if raw else None,
            ))
            status, body = api.routes.get((self.command, parts.path), (404, {
                "type": "about:blank", "title": "Not Found", "status": 404,
                "detail": f"no route {parts.path}"}))
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                status, body = 401, {"type": "about:blank", "title": "Unauthorized",
                                     "status": 401, "detail": "bad token"}
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/problem+json" if status >= 400
                             else "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = _serve

        def log_message(self, *args: Any) -> None:  # keep test output clean
            pass

    return Handler


@contextlib.contextmanager
def serve_fake_api() -> Iterator[FakeApi]:
    """Runs a FakeApi on a free loopback port for the duration of the block."""
    api = FakeApi()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(api))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    api.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def fake_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeApi]:
    with serve_fake_api() as api:
        monkeypatch.setenv("DESKMATE_API_URL", api.url)
        monkeypatch.setenv("DESKMATE_SERVICE_TOKEN", TOKEN)
        monkeypatch.setenv("DESKMATE_API_TIMEOUT", "5")
        yield api
