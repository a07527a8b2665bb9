"""An external API for the ``http`` step tests: real HTTP on 127.0.0.1 that records every request and answers as
scripted (first in, first out; ``HANG`` holds the answer back until the server stops, so the caller times out).

    with ApiServer() as server:
        server.api.answers += [(503, {"busy": True}), (201, {"id": "EXT-1"})]
        ...                             # the endpoint's url is server.url
        server.api.requests[0].headers["idempotency-key"]
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HANG = (0, None)


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class Api:
    answers: list[tuple[int, Any]] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stopping: threading.Event = field(default_factory=threading.Event)

    def take(self, request: Request) -> tuple[int, Any]:
        with self.lock:
            self.requests.append(request)
            return self.answers.pop(0) if self.answers else (200, {"ok": True})


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def _serve(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        api = self.server.api
        status, body = api.take(Request(self.command, self.path, {k.lower(): v for k, v in self.headers.items()},
                                        json.loads(raw) if raw else None))
        if (status, body) == HANG:
            api.stopping.wait()
            return
        data = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:  # the caller gave up
            pass

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve  # noqa: N815


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, api: Api) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.api = api


class ApiServer:
    def __init__(self) -> None:
        self.api = Api()
        self._server = _Server(self.api)
        self._thread = threading.Thread(target=self._server.serve_forever, name="workflow-api", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/api/v2"

    def __enter__(self) -> ApiServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.api.stopping.set()
        self._server.shutdown()
        self._server.server_close()
