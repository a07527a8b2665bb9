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
from typing import Annotated, Any

import psycopg
import typer
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


@asynccontextmanager
async def scratch_index(
    url: str, *, articles: list[kb_index.Article], embedder: kb_index.Embedder, migrations_dir: Path,
    on_progress: Callable[[int, int], None] | None = None,
) -> AsyncIterator[tuple[psycopg.AsyncConnection[Any], kb_index.IngestReport, float]]:
    """A scratch database holding the index of ``articles``: yields a connection, the ingest report and its seconds."""
    async with scratch_database(url, migrations_dir=migrations_dir) as scratch:
        async with await psycopg.AsyncConnection.connect(scratch, autocommit=True, row_factory=dict_row) as conn:
            await kb_index.register(conn)
            started = time.perf_counter()
            report = await kb_index.ingest(conn, embedder, articles, on_progress=on_progress)
            yield conn, report, time.perf_counter() - started


async def run_answers(
    url: str, *, articles_dir: Path, items_path: Path, embedder: kb_index.Embedder, migrations_dir: Path,
    on_progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Indexes ``articles_dir`` into a scratch database and checks, per question, whether the extractive
    answer quotes the expected article and a passage containing the expected phrase (best chunk vs section)."""
    articles = kb_index.load_dir(articles_dir)
    items = kb_index.load_answer_items(items_path)
    unknown = sorted({i.article for i in items} - {a.id for a in articles})
    if unknown:
        raise kb_index.ArticleError(f"the questions name articles that are not in {articles_dir}: {', '.join(unknown)}")
    async with scratch_index(url, articles=articles, embedder=embedder, migrations_dir=migrations_dir,
                             on_progress=on_progress) as (conn, report, _):
        results = await kb_index.evaluate_answers(conn, embedder, items)
    return {"articles": len(articles), "chunks": report.chunks, "model": embedder.name} | results


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
    async with scratch_index(url, articles=articles, embedder=embedder, migrations_dir=migrations_dir,
                             on_progress=on_progress) as (conn, report, index_s):
        results = await kb_index.evaluate(conn, embedder, queries, negatives=negatives)
    return {"articles": len(articles), "chunks": report.chunks, "index_seconds": round(index_s, 1),
            "model": embedder.name, "chunker": kb_index.CHUNKER_VERSION} | results


def answers_command(
    articles: Annotated[Path, typer.Option(help="directory of articles", exists=True, file_okay=False)],
    questions: Annotated[Path, typer.Option(help='JSON lines: {"query": …, "article": id, "contains": phrase}',
                                            exists=True, dir_okay=False)] = Path("data/kb_eval/answers.jsonl"),
) -> None:
    """Does the passage an answer quotes contain the answer? Best chunk vs best section, on a separate index.

    Registered by api/cli.py as ``deskmate eval answers``."""
    from api import db
    from api.settings import get_settings

    settings = get_settings()
    embedder = kb_index.Embedder(batch_size=settings.kb_embed_batch_size)
    report = asyncio.run(run_answers(db.database_url(settings), articles_dir=articles, items_path=questions,
                                     embedder=embedder, migrations_dir=settings.migrations_dir))
    typer.echo(f"{report['questions']} questions over {report['articles']} articles ({report['chunks']} chunks)")
    for variant, r in report["variants"].items():
        typer.echo(f"{variant:8} article correct {r['article_correct']:.3f}  passage contains the answer "
                   f"{r['passage_contains']:.3f}  mean quote {r['mean_chars']} chars")
