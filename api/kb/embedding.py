"""The one loader of the sentence embedder (kb_index's MiniLM ``Embedder``) for the api and the worker.

The knowledge base and triage (classification, routing feedback) share it: ``get_embedder(settings)``
returns this process's embedder, made once per DESKMATE_KB_EMBED_BATCH_SIZE; the model itself loads
on first use (or at api start with DESKMATE_KB_PRELOAD_MODEL).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from api.settings import Settings
from kb_index import Embedder

__all__ = ["Embedder", "get_embedder", "to_pgvector"]


def get_embedder(settings: Settings) -> Embedder:
    """This process's embedder for ``settings``."""
    return _load(settings.kb_embed_batch_size)


@lru_cache(maxsize=2)
def _load(batch_size: int) -> Embedder:
    return Embedder(batch_size=batch_size)


def to_pgvector(vector: Iterable[float]) -> str:
    """A pgvector literal ('[0.1,0.2,…]') for a ``%s::vector`` parameter."""
    return "[" + ",".join(f"{float(x):.6f}" for x in vector) + "]"
