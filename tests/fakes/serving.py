"""Serving a fake over real HTTP on 127.0.0.1 from a thread, for the fakes built on ``http.server``."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Generic, TypeVar

F = TypeVar("F")


class FakeHTTPServer(ThreadingHTTPServer):
    """A threading server whose handlers find their fake as ``self.server.fake``."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], fake: Any) -> None:
        super().__init__(address, handler)
        self.fake = fake


class LoopbackServer(Generic[F]):
    """``with Subclass() as server:`` serves ``server.fake`` at ``server.url`` until the block ends."""

    def __init__(self, fake: F, handler: type[BaseHTTPRequestHandler], *, port: int = 0, name: str) -> None:
        self.fake = fake
        self._server = FakeHTTPServer(("127.0.0.1", port), handler, fake)
        self._thread = threading.Thread(target=self._server.serve_forever, name=name, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> LoopbackServer[F]:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
