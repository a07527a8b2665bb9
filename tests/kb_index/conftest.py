"""Fixtures of the kb_index tests: the shared embedder, the demo KB in the test database, a vector-aware connection."""

from __future__ import annotations

from collections.abc import AsyncIterator

import psycopg
import pytest
from kb import support
from psycopg.rows import dict_row

import kb_index


@pytest.fixture(scope="session")
def embedder() -> kb_index.Embedder:
    return support.embedder()


@pytest.fixture(scope="session")
async def demo_kb(database_url: str) -> kb_index.IngestReport:
    return await support.ensure_demo_kb(database_url)


@pytest.fixture
async def vconn(database_url: str) -> AsyncIterator[psycopg.AsyncConnection]:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True, row_factory=dict_row) as c:
        await kb_index.register(c)
        yield c
