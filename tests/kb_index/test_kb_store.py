"""Ingestion: incremental by content hash, atomic replacement of chunks, deletion, pruning of removed files."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import psycopg
import pytest
from psycopg.rows import dict_row

import kb_index
from api.kb.evaluation import scratch_database
from api.settings import REPO_ROOT


class CountingEmbedder(kb_index.Embedder):
    """The real embedder, counting the texts it was asked to embed."""

    def __init__(self, inner: kb_index.Embedder) -> None:
        super().__init__(inner.model_path)
        self._model = inner.model()
        self.embedded: list[str] = []

    def embed(self, texts):  # type: ignore[override]
        self.embedded += list(texts)
        return super().embed(texts)


@pytest.fixture(scope="module")
async def sconn(database_url: str) -> AsyncIterator[psycopg.AsyncConnection]:
    """A connection to a scratch database of its own: the counts below must not see the demo KB."""
    async with scratch_database(database_url, migrations_dir=REPO_ROOT / "migrations", prefix="kbtest") as url:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True, row_factory=dict_row) as conn:
            await kb_index.register(conn)
            yield conn


def _write(directory: Path, name: str, title: str, body: str) -> None:
    (directory / f"{name}.md").write_text(f"---\nid: {name}\ntitle: {title}\n---\n\n# {title}\n\n{body}\n")


async def _titles(conn, query: str, embedder) -> list[str]:
    return [h.article_id for h in await kb_index.search(conn, query=query, embedder=embedder, k=5)]


async def test_incremental_ingest_update_and_prune(sconn, embedder, tmp_path):
    spy = CountingEmbedder(embedder)
    _write(tmp_path, "printer", "Printer jams", "## Clearing a jam\n\nOpen the front door and pull the paper out.")
    _write(tmp_path, "vpn", "VPN drops", "## Reconnect\n\nClick Refresh Connection in GlobalProtect.")
    _write(tmp_path, "wifi", "Guest Wi-Fi", "## Codes\n\nReception hands out guest Wi-Fi codes for one day.")

    first = await kb_index.ingest(sconn, spy, kb_index.load_dir(tmp_path), prune_under=tmp_path)
    assert (sorted(first.new), first.updated, first.unchanged) == (["printer", "vpn", "wifi"], [], [])
    assert first.chunks == len(spy.embedded) > 0

    spy.embedded.clear()
    again = await kb_index.ingest(sconn, spy, kb_index.load_dir(tmp_path), prune_under=tmp_path)
    assert sorted(again.unchanged) == ["printer", "vpn", "wifi"] and again.new == again.updated == []
    assert spy.embedded == []  # nothing re-embedded

    await sconn.execute("UPDATE kb_articles SET views = 7 WHERE id = 'printer'")
    old_ids = {r["id"] for r in await (await sconn.execute(
        "SELECT id FROM kb_chunks WHERE article_id = 'printer'")).fetchall()}
    _write(tmp_path, "printer", "Printer jams", "## Clearing a jam\n\nLift the green lever, then remove the toner.")
    (tmp_path / "wifi.md").unlink()
    third = await kb_index.ingest(sconn, spy, kb_index.load_dir(tmp_path), prune_under=tmp_path)
    assert (third.updated, third.unchanged, third.deleted) == (["printer"], ["vpn"], ["wifi"])
    assert all("Printer jams" in t for t in spy.embedded)  # only the changed article was embedded

    rows = await (await sconn.execute(
        "SELECT c.id, c.content, a.views, a.version FROM kb_chunks c JOIN kb_articles a ON a.id = c.article_id "
        "WHERE a.id = 'printer'")).fetchall()
    assert rows and not {r["id"] for r in rows} & old_ids
    assert all("green lever" in r["content"] for r in rows)
    assert (rows[0]["views"], rows[0]["version"]) == (7, 2)  # counters survive an update
    assert "wifi" not in await _titles(sconn, "guest wifi code from reception", embedder)
    hits = await kb_index.search(sconn, query="green lever toner", embedder=embedder, k=1)
    assert hits[0].article_id == "printer" and "green lever" in hits[0].content


async def test_prune_only_touches_files_under_the_ingested_directory(sconn, embedder, tmp_path):
    one, other = tmp_path / "one", tmp_path / "other"
    one.mkdir()
    other.mkdir()
    _write(one, "from-one", "Monitor flicker", "Replace the DisplayPort cable.")
    _write(other, "from-other", "Keyboard swap", "Ask the service desk for a keyboard.")
    await kb_index.ingest(sconn, embedder, kb_index.load_dir(one), prune_under=one)
    await kb_index.ingest(sconn, embedder, kb_index.load_dir(other), prune_under=other)
    report = await kb_index.ingest(sconn, embedder, kb_index.load_dir(other), prune_under=other)
    assert report.deleted == []
    ids = {r["id"] for r in await (await sconn.execute("SELECT id FROM kb_articles")).fetchall()}
    assert {"from-one", "from-other"} <= ids


async def test_replacement_is_atomic_for_readers(sconn, embedder, database_url):
    article = kb_index.Article(id="atomic", title="Badge reader", body="## Fix\n\nTap the badge twice.")
    await kb_index.write(sconn, (await kb_index.prepare(embedder, [article]))[0])
    reader_url = sconn.info.dsn
    updated = kb_index.Article(id="atomic", title="Badge reader", body="## Fix\n\nHold the badge for three seconds.")
    prepared = (await kb_index.prepare(embedder, [updated]))[0]
    async with await psycopg.AsyncConnection.connect(reader_url, autocommit=True, row_factory=dict_row) as reader:
        async def contents() -> list[str]:
            rows = await (await reader.execute("SELECT content FROM kb_chunks WHERE article_id = 'atomic'")).fetchall()
            return [r["content"] for r in rows]

        async with sconn.transaction():
            await kb_index.write(sconn, prepared)  # chunks deleted and re-inserted, not yet committed
            assert await contents() == ["Tap the badge twice."]  # the reader still sees the old version whole
        assert await contents() == ["Hold the badge for three seconds."]


async def test_delete_removes_from_search_at_once(sconn, embedder):
    article = kb_index.Article(id="gone-soon", title="Fax machine", body="Dial 9 before the fax number.")
    await kb_index.write(sconn, (await kb_index.prepare(embedder, [article]))[0])
    assert (await kb_index.search(sconn, query="fax number dial", embedder=embedder, k=1))[0].article_id == "gone-soon"
    assert await kb_index.delete(sconn, article_id="gone-soon") is True
    assert "gone-soon" not in await _titles(sconn, "fax number dial", embedder)
    assert await (await sconn.execute("SELECT 1 FROM kb_chunks WHERE article_id = 'gone-soon'")).fetchone() is None
    assert await kb_index.delete(sconn, article_id="gone-soon") is False


def test_content_hash_changes_with_the_fields_and_the_model():
    a = kb_index.Article(id="x", title="T", body="b")
    assert kb_index.content_hash(a, model="m") == kb_index.content_hash(a, model="m")
    moved = kb_index.Article(id="x", title="T", body="b", source_path="/elsewhere/x.md")
    assert kb_index.content_hash(moved, model="m") == kb_index.content_hash(a, model="m")
    for other in (kb_index.Article(id="x", title="T", body="b2"), kb_index.Article(id="x", title="T", body="b",
                                                                                    audience="agent")):
        assert kb_index.content_hash(other, model="m") != kb_index.content_hash(a, model="m")
    assert kb_index.content_hash(a, model="other-model") != kb_index.content_hash(a, model="m")
