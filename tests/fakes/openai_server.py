"""A fake OpenAI-compatible chat-completions server for tests, built from ../shared/specs/openai-compatible.md.

It speaks real HTTP on 127.0.0.1 so the real client stack (langchain-openai → openai → httpx) runs:

- ``POST /v1/chat/completions``: a ``chat.completion`` object, or with ``"stream": true`` an SSE
  stream of ``chat.completion.chunk`` events (role delta, content deltas, a final ``finish_reason``
  chunk, a usage chunk with ``"choices": []`` when ``stream_options.include_usage``, ``[DONE]``);
- errors the way OpenAI sends them: ``{"error": {"message", "type", "param", "code"}}`` with
  401 (wrong bearer key), 404 (unknown model), 429 (with ``retry-after``), 500, 503 …;
- ``GET /v1/models`` and ``GET /health``.

Replies are scripted per test with ``enqueue(Reply(...))`` (first in, first out); with nothing queued
it answers from the request itself: the first sentence of source [1] in the prompt, cited as [1].
A reply can be delayed (to trip the client's timeout) or fail in the middle of a stream. Every request
is recorded (``fake.requests``) so tests can assert what the model was sent.

Run standalone: ``python tests/fakes/openai_server.py --port 8089`` (key ``test-key``, model ``fake-model``).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ERROR_TYPES = {400: "invalid_request_error", 401: "invalid_request_error", 403: "permission_error",
               404: "invalid_request_error", 422: "invalid_request_error", 429: "rate_limit_exceeded",
               500: "server_error", 503: "server_error"}
ERROR_CODES = {401: "invalid_api_key", 404: "model_not_found", 429: "rate_limit_exceeded"}


@dataclass
class Reply:
    """One scripted answer. ``content=None``: the default grounded answer built from the prompt."""

    content: str | None = None
    status: int = 200
    message: str | None = None  # error message for status >= 400
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    fail_mid_stream: bool = False  # streams one delta, then an error object, then closes


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: Any

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.body.get("messages", [])) if isinstance(self.body, dict) else []


def default_answer(body: dict[str, Any]) -> str:
    """The first sentence of source [1] of the prompt, cited — or NO_ANSWER when there is none."""
    user = next((m["content"] for m in reversed(body.get("messages", [])) if m.get("role") == "user"), "")
    match = re.search(r"\[1\] Title: .*?\nText:\n(.+?)(?:\n\n\[2\]|\n<<END)", user, re.DOTALL)
    if not match:
        return "NO_ANSWER"
    first = re.split(r"(?<=[.!?])\s", match.group(1).strip().lstrip("-> ").strip(), maxsplit=1)[0]
    return f"{first} [1]"


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (timeout) before a delayed reply is not an error of the fake."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class FakeOpenAI:
    """The server: ``with FakeOpenAI() as fake: ChatOpenAI(base_url=fake.base_url, …)``."""

    def __init__(self, *, api_key: str | None = "test-key", models: tuple[str, ...] = ("fake-model",),
                 port: int = 0) -> None:
        self.api_key = api_key
        self.models = models
        self.requests: list[Recorded] = []
        self._queue: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._server = _Server(("127.0.0.1", port), _handler(self))
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-openai", daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def enqueue(self, *replies: Reply) -> None:
        with self._lock:
            self._queue.extend(replies)

    def reset(self) -> None:
        with self._lock:
            self._queue.clear()
            self.requests.clear()

    def next_reply(self) -> Reply:
        with self._lock:
            return self._queue.popleft() if self._queue else Reply()

    def record(self, entry: Recorded) -> None:
        with self._lock:
            self.requests.append(entry)

    def wait(self, seconds: float) -> None:
        """A delay that ends early when the server closes (so no test waits for it)."""
        self._closing.wait(seconds)

    def start(self) -> FakeOpenAI:
        self._thread.start()  # the socket is already listening: no need to wait for readiness
        return self

    def close(self) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.close()


def _handler(fake: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_: Any) -> None:  # quiet
            pass

        def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def _error(self, status: int, message: str, headers: dict[str, str] | None = None,
                   param: str | None = None) -> None:
            self._json(status, {"error": {"message": message, "type": ERROR_TYPES.get(status, "api_error"),
                                          "param": param, "code": ERROR_CODES.get(status)}}, headers)

        def do_GET(self) -> None:  # noqa: N802
            fake.record(Recorded("GET", self.path, _lower(self.headers), None))
            if self.path == "/health":
                self._json(200, {"status": "ok"})
            elif self.path == "/v1/models" and self._authorised():
                self._json(200, {"object": "list", "data": [
                    {"id": m, "object": "model", "created": 1700000000, "owned_by": "fake"} for m in fake.models]})
            elif self.path != "/v1/models":
                self._error(404, f"Unknown path {self.path}")

        def _authorised(self) -> bool:
            if fake.api_key is None or self.headers.get("Authorization") == f"Bearer {fake.api_key}":
                return True
            self._error(401, "Incorrect API key provided.")
            return False

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            try:
                body = json.loads(raw or b"{}")
            except json.JSONDecodeError:
                body = None
            fake.record(Recorded("POST", self.path, _lower(self.headers), body))
            if self.path != "/v1/chat/completions":
                return self._error(404, f"Unknown path {self.path}")
            if not self._authorised():
                return None
            if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
                return self._error(400, "'messages' is a required property", param="messages")
            if body.get("model") not in fake.models:
                return self._error(404, f"The model `{body.get('model')}` does not exist.", param="model")
            reply = fake.next_reply()
            if reply.delay_s:
                fake.wait(reply.delay_s)
            if reply.status >= 400:
                return self._error(reply.status, reply.message or f"fake error {reply.status}", reply.headers)
            content = reply.content if reply.content is not None else default_answer(body)
            if body.get("stream"):
                return self._stream(body, content, reply)
            return self._json(200, {
                "id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()),
                "model": body["model"], "system_fingerprint": None,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": content, "tool_calls": None},
                             "finish_reason": "stop", "logprobs": None}],
                "usage": _usage(body, content),
            }, reply.headers)

        def _stream(self, body: dict[str, Any], content: str, reply: Reply) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            base = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": int(time.time()),
                    "model": body["model"]}

            def send(payload: Any) -> None:
                data = payload if isinstance(payload, str) else json.dumps(payload)
                self.wfile.write(f"data: {data}\n\n".encode())
                self.wfile.flush()

            send(base | {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                      "finish_reason": None}]})
            pieces = re.findall(r"\S+\s*|\s+", content) or [""]
            for n, piece in enumerate(pieces):
                send(base | {"choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]})
                if reply.fail_mid_stream and n == 0:
                    send({"error": {"message": "generation failed", "type": "server_error", "code": 500}})
                    return
            send(base | {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
            if (body.get("stream_options") or {}).get("include_usage"):
                send(base | {"choices": [], "usage": _usage(body, content)})
            send("[DONE]")

    return Handler


def _lower(headers: Any) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def _usage(body: dict[str, Any], content: str) -> dict[str, int]:
    prompt = sum(len(str(m.get("content", "")).split()) for m in body.get("messages", []))
    completion = len(content.split())
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8089)
    args = parser.parse_args()
    server = FakeOpenAI(port=args.port).start()
    print(f"fake OpenAI-compatible server at {server.base_url} (key test-key, model fake-model); Ctrl-C stops")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.close()
