"""Idempotency keys: the same key and body returns the first result instead of creating again.

Call ``claim`` inside the transaction that creates, then ``record`` with what was created. A second
request with the key waits on the unique index until the first commits, then sees its result.

A domain may claim the key in its own create statement instead, with what it created (api/tickets'
``create_ticket`` does, to create in one round trip): when that finds the key taken, or fails on
``CONSTRAINT`` because a request with the key committed meanwhile, ``replay`` gives the earlier result.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from api import sql
from api.db import Conn
from api.errors import Conflict, IdempotencyMismatch

Q = sql.load("api", "idempotency.sql")
CONSTRAINT = "idempotency_keys_pkey"  # the unique index a racing claim waits on


def fingerprint(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


async def claim(conn: Conn, *, user_id: int, scope: str, key: str, payload: Any) -> int | None:
    """None when ``key`` is new (and now claimed); else the id the first request created."""
    params = {"user_id": user_id, "scope": scope, "key": key, "request_hash": fingerprint(payload)}
    if await (await conn.execute(Q.claim, params)).fetchone():
        return None
    return await replay(conn, user_id=user_id, scope=scope, key=key, payload=payload)


async def replay(conn: Conn, *, user_id: int, scope: str, key: str, payload: Any) -> int:
    """The id the first request with ``key`` created; IdempotencyMismatch when its body differed from ``payload``,
    Conflict while it is still being processed."""
    params = {"user_id": user_id, "scope": scope, "key": key, "request_hash": fingerprint(payload)}
    earlier = await (await conn.execute(Q.get, params)).fetchone()
    assert earlier is not None
    if earlier["request_hash"] != params["request_hash"]:
        raise IdempotencyMismatch(
            "This Idempotency-Key was already used with a different request body; use a new key."
        )
    if earlier["resource_id"] is None:
        raise Conflict("A request with this Idempotency-Key is still being processed; retry shortly.")
    return int(earlier["resource_id"])


async def record(conn: Conn, *, user_id: int, scope: str, key: str, resource_id: int) -> None:
    await conn.execute(
        Q.set_resource, {"user_id": user_id, "scope": scope, "key": key, "resource_id": resource_id}
    )
