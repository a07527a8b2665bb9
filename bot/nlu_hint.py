"""How Rasa's intent ranking and the gateway's second opinion are combined: one pure function.

The gateway (api/chat/hints.py) sends with every user text an ``nlu_hint`` in the message metadata: the
ranking of an embedding classifier (sentence embeddings of the same MiniLM the knowledge base uses, a
logistic regression over the bot's own training examples) and the knowledge base's best retrieval score
for the text. DIET knows the words of its training data well; the embedding classifier knows what the
words mean, which is what long, messy, real messages need. ``combine`` mixes the two rankings; the
arbiter component (bot/arbiter.py) applies it inside Rasa's pipeline, before the FallbackClassifier, so
the dialogue, the tracker and the fallback all see the combined result.

No Rasa import here: the api (Python 3.11) imports this module too, to measure and test the same rule.
"""
from __future__ import annotations

from typing import Any

HINT_KEY = "nlu_hint"


def hint_ranking(metadata: Any) -> list[dict[str, Any]]:
    """The gateway's ranking from a message's metadata, or [] when there is none or it is malformed."""
    hint = metadata.get(HINT_KEY) if isinstance(metadata, dict) else None
    ranking = hint.get("ranking") if isinstance(hint, dict) else None
    if not isinstance(ranking, list):
        return []
    clean = []
    for item in ranking:
        if isinstance(item, dict) and isinstance(item.get("name"), str) \
                and isinstance(item.get("confidence"), (int, float)):
            clean.append({"name": item["name"], "confidence": min(1.0, max(0.0, float(item["confidence"])))})
    return clean


def combine(diet: list[dict[str, Any]], hint: list[dict[str, Any]], *, weight: float) -> list[dict[str, Any]]:
    """``(1 - weight) x DIET + weight x hint`` per intent, best first; DIET's ranking unchanged without a hint.

    Parameters
    ----------
    diet: Rasa's ``intent_ranking`` (name, confidence), as DIET left it.
    hint: the gateway's ranking (name, confidence), see ``hint_ranking``.
    weight: the hint's share, 0..1.
    """
    if not hint or weight <= 0:
        return diet
    scores: dict[str, float] = {}
    for item in diet:
        scores[item["name"]] = scores.get(item["name"], 0.0) + (1 - weight) * float(item["confidence"])
    for item in hint:
        scores[item["name"]] = scores.get(item["name"], 0.0) + weight * float(item["confidence"])
    ranked = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
    return [{"name": name, "confidence": round(score, 6)} for name, score in ranked]
