"""Pure ASGI middleware: the request's trace id, and its count and time by route template and status."""

from __future__ import annotations

import time

from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.observability import metrics, tracing


def route_template(scope: Scope) -> str:
    """The matched route's template (``/api/v1/tickets/{ref}``), never the raw path: a bounded set of labels.

    FastAPI keeps an included router's routes with their own paths (``/tickets/{ref}``); the routers' prefixes
    (static in this app) are the part of the request's path in front of what the route matched."""
    route = scope.get("route")
    if route is None:
        return metrics.UNMATCHED
    own = f"{route.path}/{{path}}" if isinstance(route, Mount) else str(getattr(route, "path_format", route.path))
    regex, path = getattr(route, "path_regex", None), str(scope.get("path", ""))
    if regex is None or isinstance(route, Mount):
        return own
    for i, char in enumerate(path):
        if char == "/" and regex.match(path[i:]):
            return path[:i] + own
    return own


class Observe:
    """Continues the caller's W3C ``traceparent`` (or starts a trace) and measures every HTTP request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        incoming = dict(scope["headers"]).get(b"traceparent", b"").decode("latin-1")
        token = tracing.trace_id.set(tracing.parse(incoming) or tracing.new_id())
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            metrics.observe_request(method=scope["method"], route=route_template(scope), status=status,
                                    seconds=time.perf_counter() - started)
            tracing.trace_id.reset(token)
