"""The api's hints follow the promoted model (docs/improving.md, "The hint follows the promoted model").

The gateway's second opinion (api/chat/hints.py) weighs 0.7 of the intent Rasa decides on, so it is fitted on what
the served model trained on: data/nlu plus the examples of the proposals ``in_model``. Every api process reads them
at start-up and every DESKMATE_NLU_HINTS_REFRESH_S, and right after a promotion it made itself. It polls because
the worker promotes too, in another process, and every api replica must follow.
"""

from __future__ import annotations

import asyncio
import logging
import threading

import psycopg
from psycopg_pool import AsyncConnectionPool

from api.chat.hints import Hinter
from api.db import Conn
from api.improve import service

log = logging.getLogger(__name__)


async def follow_promoted(conn: Conn, hinter: Hinter) -> threading.Thread | None:
    """Points ``hinter`` at the promoted model's examples as the database has them now; returns the thread that
    refits the hints when they changed."""
    return hinter.follow(await service.in_model_examples(conn))


async def refresh(pool: AsyncConnectionPool[Conn], hinter: Hinter, *, timeout_s: float) -> threading.Thread | None:
    """``follow_promoted`` on a connection of ``pool``; a database error is logged and changes nothing."""
    try:
        async with pool.connection(timeout=timeout_s) as conn:
            return await follow_promoted(conn, hinter)
    except psycopg.Error as exc:  # the pool's timeout too; the next refresh tries again
        log.warning("could not read the promoted model's examples; the intent hints stay as they are",
                    extra={"kind": type(exc).__name__, "error": str(exc)})
        return None


async def keep_following(pool: AsyncConnectionPool[Conn], hinter: Hinter, *, every_s: float, timeout_s: float) -> None:
    """``refresh`` every ``every_s`` seconds, until cancelled (the api's lifespan runs it)."""
    while True:
        await asyncio.sleep(every_s)
        await refresh(pool, hinter, timeout_s=timeout_s)
