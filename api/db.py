"""Database access: the URL (external or embedded), the async pool and the FastAPI dependency."""

from __future__ import annotations

import select
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Request
from psycopg import AsyncConnection
from psycopg.pq import ConnStatus
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool

from api.dev import embedded_pg
from api.settings import Settings

Conn = AsyncConnection[DictRow]
Pool = AsyncConnectionPool[Conn]
_embedded: dict[str, Any] = {}


def database_url(settings: Settings) -> str:
    """DATABASE_URL when set; otherwise the embedded server, started on first use."""
    if settings.database_url is not None:
        return settings.database_url.get_secret_value()
    if "url" not in _embedded:
        server, url = embedded_pg.start(settings.data_dir)
        _embedded.update(server=server, url=url)
    return str(_embedded["url"])


def make_pool(
    url: str, *, min_size: int, max_size: int,
    configure: Callable[[Conn], Awaitable[None]] | None = None, timeout: float = 30.0,
) -> AsyncConnectionPool[Conn]:
    """``configure`` runs on every new connection (e.g. registering the pgvector type); ``timeout``: how long
    a caller waits for a connection. Connections are checked when lent (``check_idle``), so a restarted
    server's dead ones are replaced instead of failing a request."""
    return AsyncConnectionPool(
        url,
        min_size=min_size,
        max_size=max_size,
        open=False,
        configure=configure,
        check=check_idle,
        timeout=timeout,
        kwargs={"autocommit": True, "row_factory": dict_row, "prepare_threshold": 0},
        connection_class=AsyncConnection[DictRow],
    )


async def check_idle(conn: Conn) -> None:
    """The pool's check of a connection it lends: a round trip only when the idle connection's socket has
    something to read. An idle connection the server still holds has nothing to say; one the server closed (a
    restart, pg_terminate_backend, an idle timeout) reads as end-of-file, and psycopg's own check then fails
    and the pool replaces it. Saves a round trip on every request (docs/tickets.md#performance)."""
    if conn.pgconn.status != ConnStatus.OK or select.select([conn.fileno()], [], [], 0)[0]:
        await AsyncConnectionPool.check_connection(conn)


async def get_conn(request: Request) -> AsyncIterator[Conn]:
    """One pooled connection per request, in autocommit; services open transactions explicitly."""
    pool: AsyncConnectionPool[Conn] = request.app.state.pool
    async with pool.connection() as conn:
        yield conn


ConnDep = Annotated[Conn, Depends(get_conn)]


async def get_pool(request: Request) -> Pool:
    """The pool itself, for a route that must not hold a connection while it waits on something slow (a chat
    turn waits on Rasa, whose actions call back into this api and need connections of their own)."""
    pool: Pool = request.app.state.pool
    return pool


PoolDep = Annotated[Pool, Depends(get_pool)]
