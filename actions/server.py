"""The action server: rasa_sdk's Sanic app, answering only Rasa.

Run from the repository root: ``python -m actions.server --host 127.0.0.1 --port 5055``.

Every request but ``GET /health`` must carry ``X-Deskmate-Actions-Secret`` equal to
``DESKMATE_ACTIONS_SECRET`` (Rasa sends it: ``headers`` of ``action_endpoint`` in bot/endpoints.yml);
with no secret configured the server refuses every action call. It listens on loopback unless told
otherwise, and allows no browser origins (no CORS).
"""
from __future__ import annotations

import argparse
import hmac
import logging
import os
import time

from rasa_sdk.endpoint import create_app
from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from actions import tracing

logger = logging.getLogger(__name__)
SECRET_HEADER = "X-Deskmate-Actions-Secret"
OPEN_PATHS = frozenset({"/health"})


def build_app(secret: str) -> Sanic:
    """rasa_sdk's app for the ``actions`` package, refusing every call without ``secret``."""
    app = create_app("actions", cors_origins=None)

    @app.middleware("request")
    async def require_secret(request: Request) -> HTTPResponse | None:
        if request.path in OPEN_PATHS:
            return None
        given = request.headers.get(SECRET_HEADER, "")
        if secret and hmac.compare_digest(given.encode(), secret.encode()):
            return None
        logger.warning("refused %s %s: no valid %s", request.method, request.path, SECRET_HEADER)
        return response.json({"error": "forbidden"}, status=403)

    @app.middleware("request")
    async def start_trace(request: Request) -> None:
        """The turn's trace id for this call's log lines and api calls (its handler runs in the same context)."""
        body = request.json if request.method == "POST" and request.path == "/webhook" else None
        tracing.trace_id.set(tracing.from_action_call(body))
        request.ctx.started = time.perf_counter()

    @app.middleware("response")
    async def log_action(request: Request, answer: HTTPResponse) -> None:
        if request.method == "POST" and request.path == "/webhook" and hasattr(request.ctx, "started"):
            action = request.json.get("next_action") if isinstance(request.json, dict) else None
            logger.info("action %s answered %s in %.1f ms", action, answer.status,
                        (time.perf_counter() - request.ctx.started) * 1000)

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description="deskmate's action server")
    parser.add_argument("--host", default=os.environ.get("SANIC_HOST") or "127.0.0.1")
    parser.add_argument("--port", type=int, default=5055)
    args = parser.parse_args()
    logging.basicConfig(level=os.environ.get("DESKMATE_LOG_LEVEL", "INFO"),
                        format="%(levelname)s:%(name)s:%(message)s%(trace)s")
    for handler in logging.getLogger().handlers:  # a line logged during a turn ends with its trace_id
        handler.addFilter(tracing.LogTrace())
    secret = os.environ.get("DESKMATE_ACTIONS_SECRET", "")
    if not secret:
        logger.error("DESKMATE_ACTIONS_SECRET is not set: every action call will be refused")
    logger.info("action server on http://%s:%s", args.host, args.port)
    build_app(secret).run(args.host, args.port, workers=1, access_log=False)


if __name__ == "__main__":
    main()
