"""The sentence embedder triage shares with the knowledge base (kb_index's MiniLM Embedder).

The api keeps one on ``app.state.embedder`` (made in create_app); the worker makes one per process here.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from kb_index import Embedder

__all__ = ["Embedder", "get_embedder", "to_pgvector"]


@lru_cache(maxsize=1)
def get_embedder() -> Embedder:
    """The worker process's embedder; the model itself loads on first use."""
    return Embedder()


def to_pgvector(vector: Iterable[float]) -> str:
    """A pgvector literal ('[0.1,0.2,…]') for a ``%s::vector`` parameter."""
    return "[" + ",".join(f"{float(x):.6f}" for x in vector) + "]"
