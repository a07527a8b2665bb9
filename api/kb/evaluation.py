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


def per_section(articles: list[kb_index.Article]) -> tuple[list[kb_index.Article], dict[str, str]]:
    """A larger KB of short answers made from ``articles``: every top-level section (with its subsections) and
    every introduction becomes an article of its own, titled "<title>: <heading>", with the article's category
    and tags — many small, similar articles, as when Q&A answers are loaded as articles. Returns them and
    piece id → article id."""
    out, parent = [], {}
    for a in articles:
        groups: dict[str, list[str]] = {}
        for path, text in kb_index.sections(a):
            heading = path[0] if path else ""
            groups.setdefault(heading, []).append(("#" * (len(path) + 1) + " " + path[-1] + "\n\n" if len(path) > 1
                                                   else "") + text)
        for n, (heading, texts) in enumerate(groups.items()):
            piece = f"{a.id}--{n}"
            parent[piece] = a.id
            title = f"{a.title}: {heading}" if heading else a.title
            out.append(kb_index.Article(id=piece, title=title[:300], body="\n\n".join(texts), category=a.category,
                                        tags=a.tags, url=a.url, audience=a.audience, status=a.status))
    return out, parent


async def run(
    url: str, *, articles_dir: Path, queries_path: Path, negatives_path: Path | None, embedder: kb_index.Embedder,
    migrations_dir: Path, on_progress: Callable[[int, int], None] | None = None,
    boosts: dict[str, kb_index.Boost] | None = None, split_sections: bool = False,
) -> dict[str, Any]:
    """Indexes ``articles_dir`` into a scratch database and evaluates the queries in every search variant
    (``boosts``: the intent map, for the intent variants; ``split_sections``: index ``per_section`` pieces
    instead, a hit on a piece counting for its article)."""
    articles = kb_index.load_dir(articles_dir)
    queries = kb_index.load_queries(queries_path)
    negatives = [q.query for q in kb_index.load_queries(negatives_path)] if negatives_path else []
    known = {a.id for a in articles}
    unknown = sorted({r for q in queries for r in q.relevant} - known)
    if unknown:
        raise kb_index.ArticleError(f"the queries name articles that are not in {articles_dir}: {', '.join(unknown)}")
    indexed, parent = per_section(articles) if split_sections else (articles, None)
    async with scratch_index(url, articles=indexed, embedder=embedder, migrations_dir=migrations_dir,
                             on_progress=on_progress) as (conn, report, index_s):
        results = await kb_index.evaluate(conn, embedder, queries, negatives=negatives, boosts=boosts, parent=parent)
    return {"articles": len(indexed), "chunks": report.chunks, "index_seconds": round(index_s, 1),
            "chunker": kb_index.CHUNKER_VERSION} | results | {"model": embedder.model_id}


def merge(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """One report of several models' runs: the first one's fields, its variants named as they are, the others'
    prefixed with their model ("<model>: hybrid"); ``models`` lists them, with their indexing times."""
    if len(reports) == 1:
        return reports[0]
    out = dict(reports[0])
    out["models"] = [{"model": r["model"], "index_seconds": r["index_seconds"]} for r in reports]
    out["modes"] = {**reports[0]["modes"]}
    for r in reports[1:]:
        out["modes"].update({f"{r['model']}: {name}": m for name, m in r["modes"].items()})
        if "thresholds" in r:
            out[f"thresholds {r['model']}"] = r["thresholds"]
    return out


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
    embedder = kb_index.Embedder.from_setting(settings.kb_embed_model, batch_size=settings.kb_embed_batch_size)
    report = asyncio.run(run_answers(db.database_url(settings), articles_dir=articles, items_path=questions,
                                     embedder=embedder, migrations_dir=settings.migrations_dir))
    typer.echo(f"{report['questions']} questions over {report['articles']} articles ({report['chunks']} chunks)")
    for variant, r in report["variants"].items():
        typer.echo(f"{variant:8} article correct {r['article_correct']:.3f}  passage contains the answer "
                   f"{r['passage_contains']:.3f}  mean quote {r['mean_chars']} chars")
