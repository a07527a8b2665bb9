"""The bot's intents and training examples, and the nearest intent of new texts (an embedding kNN over them).

The training examples are read with the NLU eval's loader (api/chat/nlu_eval.py) from data/nlu; their vectors
come from the KB's sentence embedder and are cached under ``<data_dir>/improve/`` by a hash of the examples.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from api.chat import nlu_eval
from api.kb.embedding import Embedder
from api.settings import REPO_ROOT, Settings

NLU_DIR = REPO_ROOT / "data" / "nlu"
DOMAIN = REPO_ROOT / "bot" / "domain.yml"
K = 7


def domain_intents(domain: Path = DOMAIN) -> frozenset[str]:
    """The intents the bot's domain declares (a proposal may only name one of these)."""
    data = yaml.safe_load(domain.read_text(encoding="utf-8")) or {}
    names = [next(iter(i)) if isinstance(i, dict) else i for i in data.get("intents") or []]
    return frozenset(str(n) for n in names)


def training_examples(nlu_dir: Path = NLU_DIR) -> list[nlu_eval.Example]:
    """Every intent example of data/nlu/*.yml, entity markup removed."""
    return [e for path in sorted(nlu_dir.glob("*.yml")) for e in nlu_eval.load_examples(path)]


@dataclass(frozen=True)
class Vote:
    intent: str | None
    share: float  # the winner's part of the similarity-weighted vote
    similarity: float  # mean similarity of the texts to their nearest training example
    votes: dict[str, float]

    def as_dict(self) -> dict[str, Any]:
        return {"rule": "knn", "intent": self.intent, "share": round(self.share, 3),
                "similarity": round(self.similarity, 3), "k": K,
                "votes": {k: round(v, 3) for k, v in sorted(self.votes.items(), key=lambda kv: -kv[1])[:5]}}


class NluIndex:
    """The training examples with their vectors."""

    def __init__(self, examples: list[nlu_eval.Example], vectors: np.ndarray) -> None:
        self.examples = examples
        self.vectors = vectors
        self.known = frozenset(" ".join(e.text.lower().split()) for e in examples)

    def vote(self, vectors: np.ndarray) -> Vote:
        """The intent the nearest training examples of ``vectors`` (unit rows) vote for, weighted by similarity."""
        if len(vectors) == 0 or len(self.examples) == 0:
            return Vote(None, 0.0, 0.0, {})
        sims = vectors @ self.vectors.T
        top = np.argsort(-sims, axis=1)[:, :K]
        votes: dict[str, float] = defaultdict(float)
        for row, idx in enumerate(top):
            for i in idx:
                votes[self.examples[i].intent] += max(float(sims[row, i]), 0.0)
        total = sum(votes.values()) or 1.0
        winner = max(votes, key=lambda k: votes[k])
        return Vote(winner, votes[winner] / total, float(sims.max(axis=1).mean()), dict(votes))


async def load_index(settings: Settings, embedder: Embedder, nlu_dir: Path = NLU_DIR) -> NluIndex:
    """The index of data/nlu, its vectors from the cache when the examples and the model are unchanged."""
    examples = training_examples(nlu_dir)
    key = hashlib.sha256("\n".join([embedder.name, *(f"{e.intent}\t{e.text}" for e in examples)])
                         .encode("utf-8")).hexdigest()[:16]
    cache = settings.data_dir / "improve" / f"nlu-vectors-{key}.npy"
    if cache.is_file():
        vectors = np.load(cache)
    else:
        vectors = await embedder.aembed([e.text for e in examples])
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp.npy")
        np.save(tmp, vectors)
        tmp.replace(cache)
    return NluIndex(examples, vectors)
