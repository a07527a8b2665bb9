"""The gateway's second opinion on a user's text, sent to Rasa with the turn (see bot/nlu_hint.py).

An embedding classifier: the bot's own training examples (data/nlu/*.yml) embedded with the knowledge
base's MiniLM, and a multinomial logistic regression over them. It is built once per version of the
training data and kept as a small file next to the trained bot (``bot/models/nlu-hints-<hash>.npz``:
labels, weights, the hash); ``scripts/train_bot.sh`` builds it with ``deskmate nlu hints``. Predicting costs
one sentence embedding (the query vector) and a 384 x n_intents product.

The combined result is decided inside Rasa (bot/arbiter.py), so the dialogue, the tracker and the fallback
see it; the gateway only supplies the ranking.

A ``Hinter`` can follow examples beyond data/nlu: the api keeps it on the examples of the promoted model
(api/improve/served_hints.py), so an approved example moves the hint as it moves DIET.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from api.chat import nlu_eval
from kb_index import Embedder

log = logging.getLogger(__name__)
REPO_ROOT = Path(__file__).resolve().parents[2]
TRAINING_DIR = REPO_ROOT / "data" / "nlu"
CACHE_DIR = REPO_ROOT / "bot" / "models"
TOP = 5
C = 10.0  # inverse regularisation of the regression; see docs/bot.md for the measurements


def training_examples(directory: Path = TRAINING_DIR) -> list[nlu_eval.Example]:
    """Every intent example of the bot's training data, entity markup removed."""
    examples = []
    for path in sorted(directory.glob("*.yml")):
        examples += nlu_eval.load_examples(path)
    if not examples:
        raise FileNotFoundError(f"no intent examples in {directory}")
    return examples


def data_hash(examples: list[nlu_eval.Example], model_name: str) -> str:
    digest = hashlib.sha256(model_name.encode())
    for example in examples:
        digest.update(f"{example.intent}\t{example.text}\n".encode())
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class IntentHints:
    """A fitted classifier: ``rank(vector)`` gives the top intents with probabilities."""

    labels: tuple[str, ...]
    weights: np.ndarray  # (384, n_labels)
    bias: np.ndarray  # (n_labels,)
    version: str

    @classmethod
    def fit(cls, vectors: np.ndarray, intents: list[str], *, version: str) -> IntentHints:
        from sklearn.linear_model import LogisticRegression

        labels = sorted(set(intents))
        y = np.array([labels.index(i) for i in intents])
        model = LogisticRegression(C=C, max_iter=3000).fit(vectors, y)
        return cls(tuple(labels), model.coef_.T.astype(np.float32), model.intercept_.astype(np.float32), version)

    def rank(self, vector: np.ndarray, top: int = TOP) -> list[dict[str, Any]]:
        logits = vector.astype(np.float32) @ self.weights + self.bias
        probs = np.exp(logits - logits.max())
        probs /= probs.sum()
        best = np.argsort(-probs)[:top]
        return [{"name": self.labels[i], "confidence": round(float(probs[i]), 4)} for i in best]

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")  # processes fitting the same version do not collide
        np.savez(tmp, labels=np.array(self.labels), weights=self.weights, bias=self.bias, version=self.version)
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> IntentHints:
        with np.load(path, allow_pickle=False) as data:
            return cls(tuple(str(x) for x in data["labels"]), data["weights"], data["bias"], str(data["version"]))


def build(embedder: Embedder, *, examples: list[nlu_eval.Example] | None = None,
          cache_dir: Path = CACHE_DIR) -> IntentHints:
    """The classifier for these examples (default: data/nlu), from the cache or fitted and cached."""
    examples = examples if examples is not None else training_examples()
    version = data_hash(examples, embedder.name)
    path = cache_dir / f"nlu-hints-{version}.npz"
    if path.exists():
        return IntentHints.load(path)
    log.info("fitting the intent hints", extra={"examples": len(examples), "version": version})
    vectors = np.asarray(embedder.embed([e.text for e in examples]), dtype=np.float32)
    hints = IntentHints.fit(vectors, [e.intent for e in examples], version=version)
    hints.save(path)
    return hints


class Hinter:
    """This process's hints: built on first use (in a thread, once), then one embedding per text.

    They are fitted on data/nlu plus ``extra`` examples; ``follow`` changes those and refits in the background.
    """

    def __init__(self, embedder: Embedder, *, enabled: bool = True,
                 extra: Sequence[nlu_eval.Example] = ()) -> None:
        self.embedder = embedder
        self.enabled = enabled
        self.extra = list(extra)  # the examples beyond data/nlu the hints follow (fitted, or being fitted)
        self._hints: IntentHints | None = None
        self._warm = False
        self._lock = threading.Lock()  # one fit at a time

    def _load(self) -> IntentHints:
        with self._lock:
            if self._hints is None:
                self._hints = build(self.embedder, examples=training_examples() + self.extra)
            return self._hints

    def follow(self, extra: Sequence[nlu_eval.Example]) -> threading.Thread | None:
        """Fits the hints on data/nlu plus ``extra`` from now on, in a background thread; turns keep the current
        hints until the new ones replace them. Returns the thread, or None when hints are off or nothing changed."""
        if not self.enabled or list(extra) == self.extra:
            return None
        self.extra = list(extra)
        thread = threading.Thread(target=self._refit, name="nlu-hints-follow", daemon=True)
        thread.start()
        return thread

    def _refit(self) -> None:
        """Fits the hints on the examples followed now and swaps them in; a failure keeps the current ones."""
        with self._lock:
            try:
                self._hints = build(self.embedder, examples=training_examples() + self.extra)
            except Exception:
                log.exception("could not fit the intent hints on %d more examples; the current hints stay",
                              len(self.extra))

    @property
    def ready(self) -> bool:
        """Off, or loaded (classifier and model): a turn will not wait for them."""
        return not self.enabled or (self._hints is not None and self._warm)

    def warm_up(self) -> threading.Thread | None:
        """Loads the classifier and the embedding model in a background thread (the api calls this at start-up),
        so the first chat turn does not wait for them."""
        if not self.enabled:
            return None

        def load() -> None:
            self._load()
            self.embedder.embed_query("warm up")
            self._warm = True

        thread = threading.Thread(target=load, name="nlu-hints-warm-up", daemon=True)
        thread.start()
        return thread

    async def hint(self, text: str) -> dict[str, Any] | None:
        """The ``nlu_hint`` for a user text, or None when hints are off or the text is a button payload."""
        if not self.enabled or not text.strip() or text.startswith("/"):
            return None
        hints = self._hints if self._hints is not None else await asyncio.to_thread(self._load)
        vector = np.asarray(await self.embedder.aembed_query(text), dtype=np.float32)
        self._warm = True
        return {"ranking": hints.rank(vector), "version": hints.version}


def main() -> None:
    """``python -m api.chat.hints``: builds (or finds) the hints for data/nlu; scripts/train_bot.sh calls it."""
    import time

    from api.kb.embedding import get_embedder
    from api.settings import get_settings

    started = time.perf_counter()
    hints = build(get_embedder(get_settings()))
    print(f"[hints] nlu-hints-{hints.version}.npz: {len(hints.labels)} intents "
          f"({time.perf_counter() - started:.1f}s)")


if __name__ == "__main__":
    main()
