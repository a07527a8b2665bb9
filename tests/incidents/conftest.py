"""The me-too tests start many widget conversations at once from the test client's address."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
async def empty_start_window(conn):
    """The per-address start limit's window (60 a minute) is shared with every test before these in the session;
    each of these starts with it empty. The limit itself is tested in tests/api/test_ratelimit.py."""
    await conn.execute("DELETE FROM rate_limits WHERE key LIKE 'chat.start%'")
