"""Writing the index: incremental ingestion, atomic replacement of an article's chunks, deletion."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pgvector.psycopg import register_vector_async
from psycopg import AsyncConnection, sql

from kb_index._chunk import CHUNKER_VERSION, chunk_article
from kb_index._embed import Embedder
from kb_index._sql import Q
from kb_index._types import Article, Chunk

log = logging.getLogger(__name__)
Progress = Callable[[int, int], None]


async def register(conn: AsyncConnection[Any]) -> None:
    """Teaches a connection the ``vector`` type (numpy arrays in, numpy arrays out).

    Pass it as the pool's ``configure`` callback so every pooled connection has it.
    """
    await register_vector_async(conn)


def content_hash(article: Article, *, model: str) -> str:
    """Hash of everything that shapes the index entry: fields, chunker version and model."""
    fields = asdict(article)
    fields.pop("source_path")
    payload = json.dumps([fields, CHUNKER_VERSION, model], sort_keys=True, default=list)
    return hashlib.sha256(payload.encode()).hexdigest()


@dataclass
class IngestReport:
    new: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    chunks: int = 0

    def counts(self) -> dict[str, int]:
        return {"new": len(self.new), "updated": len(self.updated), "unchanged": len(self.unchanged),
                "deleted": len(self.deleted), "chunks_embedded": self.chunks}


@dataclass(frozen=True)
class Prepared:
    """An article ready to write: its chunks and their vectors."""

    article: Article
    content_hash: str
    chunks: list[Chunk]
    vectors: np.ndarray
    model: str = "all-MiniLM-L6-v2"  # the id of the model of ``vectors``


async def prepare(embedder: Embedder, articles: Sequence[Article], *, on_progress: Progress | None = None,
                  max_tokens: int = 128, overlap_tokens: int = 40) -> list[Prepared]:
    """Chunks and embeds ``articles`` (all their chunks batched together, in a worker thread)."""
    chunked = [chunk_article(a, count_tokens=embedder.count_tokens, max_tokens=max_tokens,
                             overlap_tokens=overlap_tokens) for a in articles]
    texts = [c.embedding_text(a.title) for a, chunks in zip(articles, chunked, strict=True) for c in chunks]
    vectors = np.zeros((0, embedder.dimensions), dtype=np.float32)
    step = max(embedder.batch_size * 4, 1)
    parts = []
    for start in range(0, len(texts), step):
        parts.append(await embedder.aembed(texts[start:start + step]))
        if on_progress:
            on_progress(min(start + step, len(texts)), len(texts))
    if parts:
        vectors = np.concatenate(parts)
    out, at = [], 0
    for article, chunks in zip(articles, chunked, strict=True):
        out.append(Prepared(article, content_hash(article, model=embedder.name), chunks,
                            vectors[at:at + len(chunks)], model=embedder.model_id))
        at += len(chunks)
    return out


async def write(conn: AsyncConnection[Any], prepared: Prepared, *, created_by: int | None = None) -> bool:
    """Writes an article and replaces its chunks in one transaction; returns whether it is new.

    Readers see either the old chunks or the new ones, never a mix or none.
    """
    a = prepared.article
    async with conn.transaction():
        cur = await conn.execute(Q.upsert_article, {
            "id": a.id, "title": a.title, "category": a.category, "tags": list(a.tags), "url": a.url,
            "audience": a.audience, "status": a.status, "format": a.format, "body": a.body,
            "source_path": a.source_path, "content_hash": prepared.content_hash, "created_by": created_by,
        })
        row = await cur.fetchone()
        await conn.execute(Q.delete_chunks, {"id": a.id})
        await copy_chunks(conn, a, prepared.chunks, prepared.vectors, model=prepared.model)
    return bool(row and row["inserted"])


async def copy_chunks(conn: AsyncConnection[Any], article: Article, chunks: Sequence[Chunk],
                      vectors: np.ndarray, *, model: str) -> None:
    """COPYs chunk rows (the tsvector is a generated column); ``model`` is the id of the vectors' model."""
    cur = conn.cursor()
    async with cur.copy(Q.copy_chunks) as copy:
        for chunk, vector in zip(chunks, vectors, strict=True):
            context = " ".join((article.title, *chunk.heading_path, *article.tags))
            await copy.write_row((article.id, chunk.ord, list(chunk.heading_path), context, chunk.content,
                                  chunk.token_count, article.audience, article.status, article.category, model,
                                  vector))


async def delete(conn: AsyncConnection[Any], *, article_id: str) -> bool:
    """Deletes an article and its chunks at once; returns whether it existed."""
    return await (await conn.execute(Q.delete_article, {"id": article_id})).fetchone() is not None


async def count_view(conn: AsyncConnection[Any], *, article_id: str, times: int = 1) -> None:
    """Counts ``times`` views of an article (its ``views``; ingestion keeps them)."""
    await conn.execute(Q.count_view, {"id": article_id, "times": times})


async def ingest(
    conn: AsyncConnection[Any], embedder: Embedder, articles: Sequence[Article], *,
    prune_under: Path | None = None, on_progress: Progress | None = None,
) -> IngestReport:
    """Brings the index in line with ``articles``.

    Parameters: ``articles`` as parsed (``load_dir``); ``prune_under`` a directory: articles
    ingested earlier from a file under it that is no longer in ``articles`` are deleted;
    ``on_progress(done, total)`` called as chunks are embedded. Unchanged articles (same content
    hash) are skipped without loading the model. Returns what changed; IndexModelMismatch when the index holds
    another model's vectors (``reembed`` moves it).
    """
    await check_model(conn, embedder)
    state = {r["id"]: r for r in await (await conn.execute(Q.index_state)).fetchall()}
    report = IngestReport()
    todo = []
    for a in articles:
        if a.id in state and state[a.id]["content_hash"] == content_hash(a, model=embedder.name):
            report.unchanged.append(a.id)
        else:
            todo.append(a)
    for p in await prepare(embedder, todo, on_progress=on_progress):
        (report.new if await write(conn, p) else report.updated).append(p.article.id)
        report.chunks += len(p.chunks)
    if prune_under is not None:
        root = str(prune_under.resolve())
        keep = {a.id for a in articles}
        for article_id, row in state.items():
            path = row["source_path"]
            if article_id not in keep and path and Path(path).is_relative_to(root):
                if await delete(conn, article_id=article_id):
                    report.deleted.append(article_id)
    log.info("kb ingested", extra=report.counts())
    return report


class IndexModelMismatch(ValueError):
    """The index holds vectors of another model than the embedder's."""


async def index_models(conn: AsyncConnection[Any]) -> list[str]:
    """The models whose vectors the index holds (one, except during a swap; none when empty)."""
    return sorted(r["model"] for r in await (await conn.execute(Q.index_models)).fetchall())


async def check_model(conn: AsyncConnection[Any], embedder: Embedder) -> None:
    """Raises IndexModelMismatch when the index holds vectors but none of ``embedder``'s model."""
    models = await index_models(conn)
    if models and embedder.model_id not in models:
        raise IndexModelMismatch(f"the index holds vectors of {', '.join(models)}, not {embedder.model_id}: "
                                 f"run `deskmate kb reembed` or set DESKMATE_KB_EMBED_MODEL={models[0]}")


@dataclass
class ReembedReport:
    model: str
    total: int = 0
    embedded: int = 0  # in this run (an interrupted earlier run's staged vectors are kept and not redone)
    swapped: bool = False


async def reembed(conn: AsyncConnection[Any], embedder: Embedder, *, batch: int = 64,
                  on_progress: Progress | None = None, max_rounds: int = 5) -> ReembedReport:
    """Moves the whole index to ``embedder``'s model without a moment of poorer search.

    New vectors are staged (``kb_chunk_vectors_next``), one committed batch at a time, while searches keep using
    the old ones; an interrupted run resumes where it stopped. When every chunk has one, a single transaction
    (which holds off index writes) puts them in place, builds the HNSW index of the new dimension if needed
    and records the articles' content hashes for the new model, so the next ingest skips them. Chunks written
    meanwhile are embedded in a further round. ``conn`` must be in autocommit mode. Returns what was done.
    """
    model = embedder.model_id
    report = ReembedReport(model=model)
    await conn.execute(Q.reembed_discard, {"model": model})
    for _ in range(max_rounds):
        counts = await (await conn.execute(Q.reembed_counts, {"model": model})).fetchone()
        assert counts is not None
        report.total = counts["total"]
        done = report.total - counts["todo"]
        while True:
            rows = await (await conn.execute(Q.reembed_batch, {"model": model, "limit": batch})).fetchall()
            if not rows:
                break
            texts = [Chunk(r["ord"], tuple(r["heading_path"]), r["content"], r["token_count"]).embedding_text(r["title"])
                     for r in rows]
            vectors = await embedder.aembed(texts)
            async with conn.transaction():
                cur = conn.cursor()
                await cur.executemany(Q.reembed_stage, [{"chunk_id": r["id"], "model": model, "embedding": v}
                                                        for r, v in zip(rows, vectors, strict=True)])
            report.embedded += len(rows)
            done += len(rows)
            if on_progress:
                on_progress(min(done, report.total), report.total)
        async with conn.transaction():
            await conn.execute(Q.reembed_lock)
            todo = await (await conn.execute(Q.reembed_counts, {"model": model})).fetchone()
            assert todo is not None
            if todo["todo"]:
                continue  # chunks were written meanwhile: leaving the transaction releases the lock
            await conn.execute(Q.reembed_swap, {"model": model})
            dims = embedder.dimensions
            await conn.execute(sql.SQL(Q.reembed_vector_index).format(  # type: ignore[arg-type]
                name=sql.Identifier(f"kb_chunks_embedding_{dims}_idx"), dims=sql.Literal(dims)))
            await conn.execute(Q.reembed_clear)
            for row in await (await conn.execute(Q.articles_for_hash)).fetchall():
                article = Article(**(row | {"tags": tuple(row["tags"])}))
                await conn.execute(Q.set_content_hash, {"id": row["id"],
                                                        "content_hash": content_hash(article, model=embedder.name)})
            report.swapped = True
            log.info("kb re-embedded", extra={"model": model, "chunks": report.total})
            return report
    return report
