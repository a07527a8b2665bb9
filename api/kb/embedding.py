"""The one loader of the sentence embedders (kb_index's ``Embedder``) for the api and the worker.

``get_embedder(settings)`` is the bundled MiniLM that triage (classification, routing feedback) uses: its
vectors live in 384-dimension columns. ``get_kb_embedder(settings)`` is the knowledge base's model,
DESKMATE_KB_EMBED_MODEL (the same instance while that is the default MiniLM). Each is made once per model and
DESKMATE_KB_EMBED_BATCH_SIZE; the model itself loads on first use (or at api start with
DESKMATE_KB_PRELOAD_MODEL).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from api.settings import Settings
from kb_index import Embedder

__all__ = ["Embedder", "get_embedder", "get_kb_embedder", "to_pgvector"]


def get_embedder(settings: Settings) -> Embedder:
    """This process's MiniLM embedder (triage and anything stored in 384-dimension columns)."""
    return _load(None, settings.kb_embed_batch_size)


def get_kb_embedder(settings: Settings, model: str | None = None) -> Embedder:
    """This process's embedder of the knowledge base's model (``model`` overrides the setting); ValueError when
    the setting names no model on this machine."""
    return _load(model or settings.kb_embed_model or None, settings.kb_embed_batch_size)


@lru_cache(maxsize=4)
def _load(model: str | None, batch_size: int) -> Embedder:
    return Embedder.from_setting(model, batch_size=batch_size)


def to_pgvector(vector: Iterable[float]) -> str:
    """A pgvector literal ('[0.1,0.2,…]') for a ``%s::vector`` parameter."""
    return "[" + ",".join(f"{float(x):.6f}" for x in vector) + "]"
