"""Fixtures of the closed-loop tests: a connection that knows pgvector, the shared embedder, chat turns."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

import kb_index
from api.kb import embedding
from api.settings import Settings


@pytest.fixture(scope="session")
def embedder(settings: Settings) -> kb_index.Embedder:
    """The process's MiniLM embedder (the app's too), loaded once."""
    return embedding.get_embedder(settings)


@pytest.fixture
async def vconn(database_url: str) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True, row_factory=dict_row) as c:
        await kb_index.register(c)
        yield c
