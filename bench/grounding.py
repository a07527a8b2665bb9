"""Grounding check benchmark: how well does a sentence-level check separate supported from invented sentences?

    .venv/bin/python bench/grounding.py

Reads data/kb_eval/grounding.jsonl (sentences about sections of the demo KB, each labelled supported
or not, of kinds faithful / paraphrase / invented-generic / invented-specific / contradiction /
wrong-source / smollm2) and scores each sentence against the section it cites, as ``kb_index.ground``
sees it (title + section trimmed as answers quote it):

- ``overlap``: share of the sentence's content words found in the section (``kb_index.supported``'s word rule);
- ``numbers``: every number of the sentence occurs in the section;
- ``similarity``: the best cosine similarity (the KB's MiniLM embedder) of the sentence to a line or
  sentence of the section.

Prints one JSON object: for each variant (the shipped rule is ``overlap>=0.6+numbers``), precision
and recall of "supported" (precision: of the sentences the check keeps, the share that are really
supported; recall: of the supported sentences, the share it keeps), on all items, on the articles the
thresholds were tuned on and on the others (held out), and the ROC AUC of each score.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import kb_index  # noqa: E402
from kb_index._ground import SUPPORT_MIN  # noqa: E402
from kb_index._passage import share, words  # noqa: E402

TUNED_ON = {"kb-vpn-setup", "kb-password-reset", "kb-printer-add", "kb-account-lockout"}
_UNIT = re.compile(r"(?<=[.!?])\s+|\n+")
_NUMBER = re.compile(r"\d+(?:[.,:]\d+)*")
_CITE = re.compile(r"\[\d+\]")


def section_text(articles: dict[str, kb_index.Article], article_id: str, heading: str) -> str:
    article = articles[article_id]
    for path, text in kb_index.sections(article):
        if " > ".join(path).endswith(heading):
            return f"{article.title}\n{kb_index.trim(text)}"
    raise SystemExit(f"{article_id} has no section {heading!r}")


def scores(items: list[dict], articles: dict[str, kb_index.Article]) -> list[dict[str, float | bool]]:
    embedder = kb_index.Embedder()
    out = []
    for item in items:
        source = section_text(articles, item["article"], item["section"])
        sentence = _CITE.sub(" ", item["sentence"])
        units = [u.strip(" -*>|") for u in _UNIT.split(source) if len(words(u)) >= 2]
        vectors = embedder.embed([sentence, *units])
        out.append({
            "overlap": share(words(sentence), words(source)),
            "numbers": set(_NUMBER.findall(sentence)) <= set(_NUMBER.findall(source)),
            "similarity": float((vectors[1:] @ vectors[0]).max()),
            "shipped": kb_index.supported(item["sentence"], [source]),
        })
    return out


def metrics(predicted: list[bool], truth: list[bool]) -> dict[str, float | int]:
    tp = sum(p and t for p, t in zip(predicted, truth, strict=True))
    fp = sum(p and not t for p, t in zip(predicted, truth, strict=True))
    fn = sum(t and not p for p, t in zip(predicted, truth, strict=True))
    return {"precision": round(tp / max(tp + fp, 1), 3), "recall": round(tp / max(tp + fn, 1), 3),
            "false_accepts": fp, "false_rejects": fn, "n": len(truth)}


def auc(values: list[float], truth: list[bool]) -> float:
    pos = [v for v, t in zip(values, truth, strict=True) if t]
    neg = [v for v, t in zip(values, truth, strict=True) if not t]
    return round(sum((p > n) + 0.5 * (p == n) for p in pos for n in neg) / (len(pos) * len(neg)), 3)


def main() -> None:
    items = [json.loads(line) for line in (ROOT / "data" / "kb_eval" / "grounding.jsonl").read_text().splitlines()
             if line.strip()]
    articles = {a.id: a for a in kb_index.load_dir(ROOT / "data" / "kb")}
    rows = scores(items, articles)
    truth = [bool(i["supported"]) for i in items]
    variants: dict[str, Callable[[dict], bool]] = {
        "overlap>=0.5 (first version)": lambda r: r["overlap"] >= 0.5,
        f"overlap>={SUPPORT_MIN}+numbers (shipped)": lambda r: bool(r["shipped"]),
        "similarity>=0.6": lambda r: r["similarity"] >= 0.6,
        "overlap>=0.5 and similarity>=0.6": lambda r: r["overlap"] >= 0.5 and r["similarity"] >= 0.6,
        "overlap>=0.6 and similarity>=0.6+numbers": lambda r: r["shipped"] and r["similarity"] >= 0.6,
        "mean(overlap,similarity)>=0.7+numbers": lambda r: (r["overlap"] + r["similarity"]) / 2 >= 0.7 and r["numbers"],
    }
    splits = {"all": lambda i: True, "tuned": lambda i: i["article"] in TUNED_ON,
              "held_out": lambda i: i["article"] not in TUNED_ON, "smollm2": lambda i: i["kind"] == "smollm2"}
    report: dict[str, object] = {"items": len(items), "supported": sum(truth)}
    for split, keep in splits.items():
        idx = [n for n, i in enumerate(items) if keep(i)]
        if idx:
            report[split] = {name: metrics([rule(rows[n]) for n in idx], [truth[n] for n in idx])
                             for name, rule in variants.items()}
    report["auc"] = {
        "overlap": auc([float(r["overlap"]) for r in rows], truth),
        "similarity": auc([float(r["similarity"]) for r in rows], truth),
        "mean(overlap,similarity)": auc([(float(r["overlap"]) + float(r["similarity"])) / 2 for r in rows], truth),
        "overlap x numbers": auc([float(r["overlap"]) * bool(r["numbers"]) for r in rows], truth),
        "mean x numbers": auc([(float(r["overlap"]) + float(r["similarity"])) / 2 * bool(r["numbers"])
                               for r in rows], truth),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
