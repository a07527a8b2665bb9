"""Shared by tests/kb and tests/kb_index: one embedder per test process, the demo KB ingested once."""

from __future__ import annotations

import functools

import psycopg
from psycopg.rows import dict_row

import kb_index
from api.settings import REPO_ROOT

KB_DIR = REPO_ROOT / "data" / "kb"
EVAL_DIR = REPO_ROOT / "data" / "kb_eval"


@functools.cache
def embedder() -> kb_index.Embedder:
    """The real MiniLM model, loaded once for the whole session (both test folders share it)."""
    return kb_index.Embedder()


async def ensure_demo_kb(database_url: str) -> kb_index.IngestReport:
    """Ingests data/kb into the test database; a second call finds every article unchanged."""
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
        await kb_index.register(conn)
        return await kb_index.ingest(conn, embedder(), kb_index.load_dir(KB_DIR), prune_under=KB_DIR)
