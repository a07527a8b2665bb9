"""Retrieval evaluation on a throw-away database, so the live knowledge base is never touched.

A database named ``deskmate_kbeval_<random>`` is created on the same server as the configured one,
migrated, filled from the articles directory, queried, and dropped again (also on failure).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo
from psycopg.rows import dict_row

import kb_index
from api import migrate


@asynccontextmanager
async def scratch_database(url: str, *, migrations_dir: Path, prefix: str = "deskmate_kbeval") -> AsyncIterator[str]:
    """A freshly migrated database beside ``url``'s; yields its URL and drops it afterwards."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as admin:
        await admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        scratch = make_conninfo(url, dbname=name)
        await asyncio.to_thread(migrate.migrate, scratch, migrations_dir)
        yield scratch
    finally:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as admin:
            await admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


async def run(
    url: str, *, articles_dir: Path, queries_path: Path, negatives_path: Path | None, embedder: kb_index.Embedder,
    migrations_dir: Path, on_progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Indexes ``articles_dir`` into a scratch database and evaluates the queries in every search mode."""
    articles = kb_index.load_dir(articles_dir)
    queries = kb_index.load_queries(queries_path)
    negatives = [q.query for q in kb_index.load_queries(negatives_path)] if negatives_path else []
    known = {a.id for a in articles}
    unknown = sorted({r for q in queries for r in q.relevant} - known)
    if unknown:
        raise kb_index.ArticleError(f"the queries name articles that are not in {articles_dir}: {', '.join(unknown)}")
    async with scratch_database(url, migrations_dir=migrations_dir) as scratch:
        async with await psycopg.AsyncConnection.connect(scratch, autocommit=True, row_factory=dict_row) as conn:
            await kb_index.register(conn)
            started = time.perf_counter()
            report = await kb_index.ingest(conn, embedder, articles, on_progress=on_progress)
            index_s = time.perf_counter() - started
            results = await kb_index.evaluate(conn, embedder, queries, negatives=negatives)
    return {"articles": len(articles), "chunks": report.chunks, "index_seconds": round(index_s, 1),
            "model": embedder.name, "chunker": kb_index.CHUNKER_VERSION} | results
