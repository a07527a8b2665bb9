"""Switching the KB's embedding model: `reembed` stages new vectors while the old ones serve, resumes after a
failure, swaps all at once, and a model of another dimension gets its own HNSW index.

The second model is made here, without any download: the bundled MiniLM plus a fixed random projection to 256
dimensions (a real sentence-transformers directory, loaded like any other)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import psycopg
import pytest
from psycopg.rows import dict_row

import kb_index
from api.kb.evaluation import scratch_database
from api.settings import REPO_ROOT


@pytest.fixture(scope="module")
def projected_model(tmp_path_factory: pytest.TempPathFactory, embedder: kb_index.Embedder) -> Path:
    import torch
    from sentence_transformers import SentenceTransformer, models

    torch.manual_seed(7)
    base = SentenceTransformer(str(embedder.model_path), device="cpu", local_files_only=True)
    dense = models.Dense(384, 256, bias=False, activation_function=torch.nn.Identity())
    path = tmp_path_factory.mktemp("models") / "minilm-256"
    SentenceTransformer(modules=[*base, dense], device="cpu").save(str(path))
    return path


@pytest.fixture
async def rconn(database_url: str) -> AsyncIterator[psycopg.AsyncConnection]:
    async with scratch_database(database_url, migrations_dir=REPO_ROOT / "migrations", prefix="kbreembed") as url:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True, row_factory=dict_row) as conn:
            await kb_index.register(conn)
            yield conn


def _write(directory: Path, name: str, title: str, body: str) -> None:
    (directory / f"{name}.md").write_text(f"---\nid: {name}\ntitle: {title}\n---\n\n# {title}\n\n{body}\n")


async def _top(conn, embedder, query: str, mode: str = "hybrid") -> list[str]:
    return [h.article_id for h in await kb_index.search(conn, query=query, embedder=embedder, k=3, mode=mode)]


class FailingEmbedder(kb_index.Embedder):
    """The new model, failing after ``ok`` batches (a crash, a killed process)."""

    def __init__(self, inner: kb_index.Embedder, ok: int) -> None:
        super().__init__(inner.model_path, batch_size=inner.batch_size, model_id=inner.model_id)
        self._model = inner.model()
        self.ok = ok

    def embed(self, texts):  # type: ignore[override]
        if self.ok <= 0:
            raise RuntimeError("killed")
        self.ok -= 1
        return super().embed(texts)


async def test_reembed_serves_old_vectors_until_the_new_ones_are_complete(rconn, embedder, projected_model, tmp_path):
    for n in range(6):
        _write(tmp_path, f"filler-{n}", f"Filler topic {n}", f"## Part\n\nNothing about printers here, only item {n}.")
    _write(tmp_path, "toner", "Replace the toner", "## Steps\n\nOpen the front door, pull the green lever, swap the "
                                                   "toner cartridge.")
    await kb_index.ingest(rconn, embedder, kb_index.load_dir(tmp_path))
    new = kb_index.Embedder(projected_model)
    assert (new.model_id, new.dimensions) == ("minilm-256", 256)
    query = "the printer needs a new ink cartridge"
    assert (await _top(rconn, embedder, query, "vector"))[0] == "toner"

    with pytest.raises(RuntimeError, match="killed"):
        await kb_index.reembed(rconn, FailingEmbedder(new, ok=1), batch=2)
    staged = (await (await rconn.execute("SELECT count(*) AS n FROM kb_chunk_vectors_next")).fetchone())["n"]
    assert staged == 2
    assert await kb_index.index_models(rconn) == ["all-MiniLM-L6-v2"]  # nothing swapped: old vectors serve
    assert (await _top(rconn, embedder, query, "vector"))[0] == "toner"

    seen: list[tuple[int, int]] = []
    report = await kb_index.reembed(rconn, new, batch=2, on_progress=lambda d, t: seen.append((d, t)))
    assert report.swapped and report.embedded == report.total - staged  # resumed, nothing done twice
    assert seen[-1] == (report.total, report.total)
    assert await kb_index.index_models(rconn) == ["minilm-256"]
    assert (await _top(rconn, new, query, "vector"))[0] == "toner"
    await rconn.execute("SET enable_seqscan = off")  # a tiny table: make the planner show it can use the index
    plan = await (await rconn.execute(
        "EXPLAIN SELECT id FROM kb_chunks WHERE vector_dims(embedding) = 256 "
        "ORDER BY embedding::vector(256) <=> %s::vector(256) LIMIT 3", (new.embed_query(query),))).fetchall()
    await rconn.execute("RESET enable_seqscan")
    assert any("kb_chunks_embedding_256_idx" in str(r) for r in plan)

    # the old model's queries no longer meet vectors of another model: full text only, no error
    assert await _top(rconn, embedder, query, "vector") == []
    with pytest.raises(kb_index.IndexModelMismatch, match="minilm-256"):
        await kb_index.ingest(rconn, embedder, kb_index.load_dir(tmp_path))
    again = await kb_index.ingest(rconn, new, kb_index.load_dir(tmp_path))
    assert again.chunks == 0 and len(again.unchanged) == 7  # content hashes were moved to the new model
