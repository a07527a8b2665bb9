"""The one loader of the sentence embedders (kb_index's ``Embedder``) for the api and the worker.

``get_embedder(settings)`` is the bundled MiniLM that triage (classification, routing feedback) uses: its
vectors live in 384-dimension columns. ``get_kb_embedder(settings)`` is the knowledge base's model,
DESKMATE_KB_EMBED_MODEL (the same instance while that is the default MiniLM). Each is made once per model and
DESKMATE_KB_EMBED_BATCH_SIZE; the model itself loads on first use (or at api start with
DESKMATE_KB_PRELOAD_MODEL). With DESKMATE_KB_EMBED_BACKEND=onnx (not the default yet) it runs the int8 ONNX export under
DESKMATE_KB_ONNX_DIR (``make model``, ``deskmate kb export-onnx``), else torch: a missing export is logged once
and torch used. The api, the worker and the CLI all load it here.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

from api.settings import Settings
from kb_index import MODEL_NAME, Embedder

__all__ = ["Embedder", "get_embedder", "get_kb_embedder", "onnx_dir", "to_pgvector"]


def get_embedder(settings: Settings) -> Embedder:
    """This process's MiniLM embedder (triage and anything stored in 384-dimension columns)."""
    return _load(None, settings.kb_embed_batch_size, onnx_dir(settings))


def get_kb_embedder(settings: Settings, model: str | None = None) -> Embedder:
    """This process's embedder of the knowledge base's model (``model`` overrides the setting); ValueError when
    the setting names no model on this machine."""
    spec = model or settings.kb_embed_model or None
    # the bundled MiniLM by name is get_embedder's instance (one model in memory, not two)
    return _load(None if spec == MODEL_NAME else spec, settings.kb_embed_batch_size, onnx_dir(settings))


def onnx_dir(settings: Settings) -> Path | None:
    """Where the ONNX exports are looked for, None when the backend is torch."""
    return settings.kb_onnx_dir if settings.kb_embed_backend == "onnx" else None


@lru_cache(maxsize=4)
def _load(model: str | None, batch_size: int, onnx_dir: Path | None) -> Embedder:
    return Embedder.from_setting(model, batch_size=batch_size, onnx_dir=onnx_dir)


def to_pgvector(vector: Iterable[float]) -> str:
    """A pgvector literal ('[0.1,0.2,…]') for a ``%s::vector`` parameter."""
    return "[" + ",".join(f"{float(x):.6f}" for x in vector) + "]"
