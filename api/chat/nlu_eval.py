"""NLU evaluation: read Rasa NLU YAML, send every example to the bot, score the predictions.

Used by ``deskmate eval nlu``. Labels can be renamed with a map (``open_incident: open_ticket``);
labels mapped to ``null`` are skipped.
"""

from __future__ import annotations

import re
import statistics
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

FALLBACK = "nlu_fallback"
# Intents that are conversation, not an IT request: an out_of_scope example predicted as one of these
# (or as fallback) was not "accepted as an IT intent".
NON_IT = frozenset({"greet", "goodbye", "thank", "affirm", "deny", "bot_challenge", "help", "out_of_scope",
                    "human_handoff", "stop", "inform", FALLBACK})
_ENTITY = re.compile(r"\[([^\]]+)\](?:\([^)]*\)|\{[^}]*\})")


@dataclass(frozen=True)
class Example:
    text: str
    intent: str


@dataclass
class Prediction:
    text: str
    expected: str
    predicted: str
    confidence: float
    ms: float


@dataclass
class Report:
    predictions: list[Prediction] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {**self.metrics(), "predictions": [p.__dict__ for p in self.predictions]}

    def metrics(self) -> dict[str, Any]:
        preds = self.predictions
        labels = sorted({p.expected for p in preds})
        per_intent = {label: _prf(preds, label) for label in labels}
        oos = [p for p in preds if p.expected == "out_of_scope"]
        latencies = sorted(p.ms for p in preds)
        return {
            "examples": len(preds),
            "accuracy": round(sum(p.predicted == p.expected for p in preds) / len(preds), 4) if preds else None,
            "macro_f1": round(statistics.fmean(m["f1"] for m in per_intent.values()), 4) if per_intent else None,
            "fallback_rate": round(sum(p.predicted == FALLBACK for p in preds) / len(preds), 4) if preds else None,
            "out_of_scope_accepted_as_it": (round(sum(p.predicted not in NON_IT for p in oos) / len(oos), 4)
                                            if oos else None),
            "latency_ms": {"p50": _pct(latencies, 50), "p95": _pct(latencies, 95)},
            "per_intent": per_intent,
            "confusions": Counter(f"{p.expected} -> {p.predicted}" for p in preds
                                  if p.predicted != p.expected).most_common(15),
        }


def _pct(sorted_values: list[float], pct: int) -> float | None:
    if not sorted_values:
        return None
    return round(sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * pct / 100))], 1)


def _prf(preds: list[Prediction], label: str) -> dict[str, float]:
    tp = sum(p.expected == label and p.predicted == label for p in preds)
    fp = sum(p.expected != label and p.predicted == label for p in preds)
    fn = sum(p.expected == label and p.predicted != label for p in preds)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4), "support": tp + fn}


def strip_entities(text: str) -> str:
    """``[Visio](software) please`` → ``Visio please``."""
    return _ENTITY.sub(r"\1", text).strip()


def load_examples(path: Path, label_map: dict[str, str | None] | None = None) -> list[Example]:
    """The intent examples of a Rasa NLU YAML file, entity markup removed, labels mapped."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    examples = []
    for block in data.get("nlu") or []:
        if "intent" not in block:
            continue
        label = block["intent"]
        if label_map is not None and label in label_map:
            label = label_map[label]
        if label is None:
            continue
        for line in str(block.get("examples", "")).splitlines():
            line = line.strip()
            if line.startswith("- "):
                examples.append(Example(strip_entities(line[2:]), label))
    return examples


def load_map(path: Path) -> dict[str, str | None]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: the label map is a mapping 'their_label: our_label' (or null to skip)")
    return {str(k): (None if v is None else str(v)) for k, v in data.items()}


async def evaluate(examples: list[Example], parse: Callable[[str], Awaitable[dict[str, Any]]],
                   progress: Callable[[], None] | None = None) -> Report:
    """Sends each example to ``parse`` (Rasa's /model/parse) and collects the predictions."""
    report = Report()
    for example in examples:
        started = time.perf_counter()
        result = await parse(example.text)
        ms = (time.perf_counter() - started) * 1000
        intent = result.get("intent") or {}
        report.predictions.append(Prediction(example.text, example.intent, intent.get("name") or FALLBACK,
                                             float(intent.get("confidence") or 0.0), round(ms, 1)))
        if progress:
            progress()
    return report
