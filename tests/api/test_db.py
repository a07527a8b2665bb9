"""The pool's check of the connections it lends: a connection the server closed is replaced, not lent."""

from __future__ import annotations

import pytest
from fakes.waiting import until

from api import db


async def _gone(conn, pid: int) -> bool:
    row = await (await conn.execute("SELECT count(*) AS n FROM pg_stat_activity WHERE pid = %s", (pid,))).fetchone()
    return row["n"] == 0


@pytest.mark.parametrize("size", [1, 2])
async def test_a_connection_the_server_closed_is_replaced_before_it_is_lent(database_url, conn, size):
    pool = db.make_pool(database_url, min_size=size, max_size=size, timeout=10)
    await pool.open(wait=True)
    try:
        async with pool.connection() as lent:
            first_pid = lent.info.backend_pid
        await conn.execute("SELECT pg_terminate_backend(%s)", (first_pid,))
        await until(lambda: _gone(conn, first_pid), timeout_s=30, every_s=0.02, what="the backend to exit")
        for _ in range(size + 1):  # whichever connection comes next answers
            async with pool.connection() as lent:
                row = await (await lent.execute("SELECT pg_backend_pid() AS pid")).fetchone()
                assert row["pid"] != first_pid
    finally:
        await pool.close()


async def test_an_idle_live_connection_is_lent_as_it_is(database_url):
    pool = db.make_pool(database_url, min_size=1, max_size=1, timeout=10)
    await pool.open(wait=True)
    try:
        async with pool.connection() as lent:
            pid = lent.info.backend_pid
        async with pool.connection() as lent:
            assert lent.info.backend_pid == pid
            assert (await (await lent.execute("SELECT 1 AS one")).fetchone())["one"] == 1
    finally:
        await pool.close()
