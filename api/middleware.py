"""Pure ASGI middleware: request ids and access logs, the request body limit, text Postgres can store."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from typing import Any
from urllib.parse import unquote_plus

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import PROBLEM_JSON, problem_body
from api.log import request_id

log = logging.getLogger("deskmate.access")
_VALID_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestContext:
    """Gives every request an id (X-Request-ID, kept when the client sends a sane one) and logs it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        incoming = headers.get(b"x-request-id", b"").decode("latin-1")
        rid = incoming if _VALID_ID.match(incoming) else uuid.uuid4().hex
        token = request_id.set(rid)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", []).append((b"x-request-id", rid.encode()))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            state: dict[str, Any] = scope.get("state", {})
            log.info("request", extra={
                "method": scope["method"], "path": scope["path"], "status": status,
                "ms": round((time.perf_counter() - started) * 1000, 2), "user_id": state.get("user_id"),
            })
            request_id.reset(token)


class _TooLarge(Exception):
    pass


class BodyLimit:
    """Refuses request bodies over ``max_bytes`` with a 413 problem, by Content-Length or while streaming."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length", b"")
        if length.isdigit() and int(length) > self.max_bytes:
            return await self._refuse(send)
        seen, started = 0, False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        await _send_problem(send, problem_body(
            413, "Request body too large",
            f"The request body is larger than the {self.max_bytes} bytes this service accepts.",
            "/problems/payload-too-large"))


async def _send_problem(send: Send, body: dict[str, Any]) -> None:
    data = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": body["status"], "headers": [
        (b"content-type", PROBLEM_JSON.encode()), (b"content-length", str(len(data)).encode())]})
    await send({"type": "http.response.body", "body": data})


# NUL and lone UTF-16 surrogates: valid in JSON strings and Python str, but no Postgres text or jsonb holds them.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _unstorable(value: Any) -> bool:
    if isinstance(value, str):
        return _UNSTORABLE.search(value) is not None
    if isinstance(value, dict):
        return any(_unstorable(k) or _unstorable(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_unstorable(v) for v in value)
    return False


class TextGuard:
    """Refuses (422) requests whose path, query or JSON body holds text Postgres cannot store (NUL, lone
    surrogates), for every endpoint, before any handler sees it. Bodies without a ``\\u`` escape cannot
    hold either (raw NUL and raw surrogates are already invalid JSON), so only those are parsed twice."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        query = unquote_plus(scope.get("query_string", b"").decode("latin-1"), errors="replace")
        if _unstorable(scope["path"]) or _unstorable(query):
            return await self._refuse(send, "the URL")
        content_type = dict(scope["headers"]).get(b"content-type", b"")
        if b"json" not in content_type:
            return await self.app(scope, receive, send)
        messages, body = [], bytearray()
        while True:
            message = await receive()
            messages.append(message)
            body += message.get("body", b"")
            if message["type"] != "http.request" or not message.get("more_body", False):
                break
        if b"\\u" in body and _unstorable(_parse(bytes(body))):
            return await self._refuse(send, "the request body")

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send, where: str) -> None:
        await _send_problem(send, problem_body(
            422, "The request is not valid",
            f"Text in {where} contains a NUL character or an unpaired UTF-16 surrogate, which cannot be stored.",
            "/problems/validation"))


def _parse(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None  # the route's own parsing reports malformed JSON
