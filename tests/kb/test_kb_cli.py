"""``deskmate kb ingest|search|reembed`` and ``deskmate eval retrieval`` against the test database."""

from __future__ import annotations

import json
import uuid

import pytest
from typer.testing import CliRunner

import kb_index
from api.cli import app as cli
from api.kb import embedding
from api.settings import get_settings


@pytest.fixture
def runner(monkeypatch, settings, embedder):
    """The CLI on the test database, with the session's embedder (no second model load)."""
    monkeypatch.setenv("DATABASE_URL", settings.database_url.get_secret_value())
    monkeypatch.setenv("DESKMATE_DATA_DIR", str(settings.data_dir))
    monkeypatch.setattr(kb_index, "Embedder", lambda **_: embedder)
    real = embedding.get_kb_embedder
    monkeypatch.setattr(embedding, "get_kb_embedder", lambda settings, model=None: embedder
                        if model in (None, kb_index.MODEL_NAME) else real(settings, model))
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def _articles(directory, marker):
    directory.mkdir()
    (directory / "a.md").write_text(f"---\nid: cli-{marker}-a\n---\n# Plotter {marker} ink\n\nShake the ink "
                                    f"cartridge of the plotter {marker} before use.\n")
    (directory / "b.html").write_text(f"<title>Kiosk {marker}</title><h1>Kiosk {marker}</h1>"
                                      f"<p>Restart the lobby kiosk {marker} with the red switch.</p>")


def test_ingest_is_incremental_and_search_prints_results(runner, tmp_path):
    marker = uuid.uuid4().hex[:6]
    directory = tmp_path / "kb"
    _articles(directory, marker)
    first = runner.invoke(cli, ["kb", "ingest", str(directory)])
    assert first.exit_code == 0, first.output
    assert "2 new, 0 updated, 0 unchanged, 0 deleted" in first.output
    again = runner.invoke(cli, ["kb", "ingest", str(directory)])
    assert "0 new, 0 updated, 2 unchanged, 0 deleted (0 chunks embedded)" in again.output
    found = runner.invoke(cli, ["kb", "search", f"plotter {marker} ink cartridge", "-k", "2"])
    assert found.exit_code == 0 and f"cli-{marker}-a" in found.output and "Plotter" in found.output
    (directory / "a.md").unlink()
    pruned = runner.invoke(cli, ["kb", "ingest", str(directory)])
    assert "0 new, 0 updated, 1 unchanged, 1 deleted" in pruned.output
    (directory / "b.html").unlink()
    assert "1 deleted" in runner.invoke(cli, ["kb", "ingest", str(directory)]).output


def test_ingest_refuses_bad_articles(runner, tmp_path):
    (tmp_path / "bad.md").write_text("---\naudience: everyone\n---\n# T\n\nx")
    result = runner.invoke(cli, ["kb", "ingest", str(tmp_path)])
    assert result.exit_code == 1 and "audience 'everyone'" in result.output


def test_eval_retrieval_reports_all_modes_on_a_separate_index(runner, tmp_path, conn):
    marker = uuid.uuid4().hex[:6]
    directory = tmp_path / "kb"
    _articles(directory, marker)
    queries = tmp_path / "q.jsonl"
    queries.write_text(json.dumps({"query": f"plotter {marker} ink", "relevant": [f"cli-{marker}-a"]}) + "\n"
                       + json.dumps({"query": "lobby kiosk red switch", "relevant": ["b"]}) + "\n")
    out = tmp_path / "report.json"
    result = runner.invoke(cli, ["eval", "retrieval", "--articles", str(directory), "--queries", str(queries),
                                 "--json", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert (report["articles"], report["queries"]) == (2, 2)
    assert set(report["modes"]) == {v.name for v in kb_index.VARIANTS}  # vector, text, fusions, intent boosts
    splits = {kb_index.split_of(q) for q in (f"plotter {marker} ink", "lobby kiosk red switch")}
    for metrics in report["modes"].values():
        assert set(metrics) >= {"recall@1", "recall@5", "recall@10", "mrr", "ndcg@10", "latency_ms"} | splits
    assert report["modes"]["hybrid"]["recall@5"] == 1.0
    assert "hybrid" in result.output and "R@5" in result.output


def test_reembed_with_the_model_the_index_has_redoes_nothing(runner):
    result = runner.invoke(cli, ["kb", "reembed"])
    assert result.exit_code == 0, result.output
    assert "now use all-MiniLM-L6-v2 (0 embedded in this run)" in result.output


def test_reembed_refuses_a_model_that_is_not_on_this_machine(runner, tmp_path):
    result = runner.invoke(cli, ["kb", "reembed", "--model", str(tmp_path / "nothing-here")])
    assert result.exit_code == 1 and "not a sentence-transformers directory" in result.output


async def test_eval_leaves_no_trace_in_the_live_kb(runner, conn):
    rows = await (await conn.execute("SELECT id FROM kb_articles WHERE id = 'b' OR id LIKE 'cli-%%'")).fetchall()
    assert rows == []
    dbs = await (await conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'deskmate_kbeval_%%'"))\
        .fetchall()
    assert dbs == []


def test_deskmate_run_seeds_the_demo_kb_in_a_child_process_and_keeps_no_model(settings, tmp_path):
    """`deskmate run`'s seeding (api/cli.py _seed_demo_kb) runs `deskmate kb seed-demo` as a child process: the
    articles get in, and the supervisor itself never imports torch, sentence-transformers or ONNX Runtime."""
    import os
    import subprocess
    import sys

    import psycopg

    from api.dev import demo
    from api.settings import REPO_ROOT

    marker = uuid.uuid4().hex[:6]
    kb_dir = tmp_path / "kb"
    _articles(kb_dir, marker)
    url = settings.database_url.get_secret_value()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DELETE FROM dev_seeds WHERE name = %s", (demo.KB_SEED,))
    env = os.environ | {"DATABASE_URL": url, "DESKMATE_DATA_DIR": str(settings.data_dir), "DESKMATE_KB_DIR": str(kb_dir)}
    probe = ("import sys\nfrom api.cli import _seed_demo_kb\nfrom api.settings import Settings\n"
             "_seed_demo_kb(Settings())\n"
             "print('loaded:', [m for m in ('torch', 'sentence_transformers', 'onnxruntime') if m in sys.modules])")
    first = subprocess.run([sys.executable, "-c", probe], env=env, cwd=REPO_ROOT, capture_output=True, text=True,
                           timeout=600)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "demo knowledge base: 2 articles loaded" in first.stdout and "loaded: []" in first.stdout
    with psycopg.connect(url) as conn:
        ids = [r[0] for r in conn.execute("SELECT id FROM kb_articles WHERE id = %s OR title = %s ORDER BY title",
                                          (f"cli-{marker}-a", f"Kiosk {marker}"))]
        chunks = conn.execute("SELECT count(*) FROM kb_chunks WHERE article_id = ANY(%s)", (ids,)).fetchone()
    assert len(ids) == 2 and f"cli-{marker}-a" in ids and chunks[0] >= 2
    again = subprocess.run([sys.executable, "-c", probe], env=env, cwd=REPO_ROOT, capture_output=True, text=True,
                           timeout=600)
    assert again.returncode == 0 and "seeded before" in again.stdout, again.stderr[-2000:]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DELETE FROM kb_articles WHERE id = ANY(%s)", (ids,))
