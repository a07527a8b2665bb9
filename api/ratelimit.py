"""Rate limits kept in Postgres, so every api replica shares them: at most ``limit`` hits per key in any
sliding window of ``window_s`` seconds. One statement per check (api/ratelimit.sql ``hit``) records the hit
or refuses it under the key's row lock, so concurrent requests never pass more than the limit.

Limits in use (docs/operations.md):
- starting a chat conversation: per client address and for everyone together (:func:`conversation_start`);
- messages in one conversation (api/chat/service.py calls :func:`check`).

The client address is the connection's peer, or the one uvicorn takes from ``X-Forwarded-For`` /
``X-Forwarded-Proto`` when the peer is a trusted proxy (``deskmate serve`` runs uvicorn with
``proxy_headers``; FORWARDED_ALLOW_IPS names the trusted proxies, default 127.0.0.1).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from api import sql
from api.db import Conn, ConnDep
from api.deps import SettingsDep
from api.errors import TooManyRequests

Q = sql.load("api", "ratelimit.sql")
WINDOW_S = 60


async def check(conn: Conn, *, key: str, limit: int, message: str, window_s: int = WINDOW_S) -> None:
    """Counts a hit on ``key``; TooManyRequests (with Retry-After) when ``limit`` hits are already in the window."""
    row = await (await conn.execute(Q.hit, {"key": key, "limit": limit, "window_s": window_s})).fetchone()
    assert row is not None
    if not row["allowed"]:
        raise TooManyRequests(message, retry_after_s=max(1, int(row["retry_after_s"] or 1)))


def client_address(request: Request) -> str:
    """The caller's address (the proxy's client when uvicorn trusts the proxy's headers)."""
    return request.client.host if request.client else "unknown"


async def conversation_start(request: Request, conn: ConnDep, settings: SettingsDep) -> None:
    """Anonymous conversations are free to start, but not without bound: per address and overall."""
    address = client_address(request)
    await check(conn, key=f"chat.start:{address}", limit=settings.chat_start_per_address_per_minute,
                message=f"Too many new conversations from {address}; continue an open one or try again shortly.")
    await check(conn, key="chat.start", limit=settings.chat_start_per_minute,
                message="The assistant is very busy right now; try again shortly.")


ConversationStartLimit = Annotated[None, Depends(conversation_start)]
