"""Retrieval evaluation: recall@k, MRR, nDCG@10 and latency for every search variant (vector, full text, the
fusions, the intent boost), per split (dev / held-out by text hash); and answer evaluation: does the passage an
extractive answer quotes contain the answer?"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from psycopg import AsyncConnection

from kb_index._answer import extractive
from kb_index._embed import Embedder
from kb_index._passage import with_passages
from kb_index._search import Boost, search
from kb_index._types import AUDIENCES, SearchMode

MODES: tuple[SearchMode, ...] = ("vector", "text", "hybrid")
PASSAGES = ("chunk", "section")  # what an extractive answer quotes: the best chunk (before) or its best section


HELDOUT_EVERY = 3  # one query in three is held out (by text hash): never tune on it


def split_of(query: str) -> str:
    """"heldout" or "dev", fixed by the query's text (SHA-256), so a query never changes side."""
    return "heldout" if int(hashlib.sha256(query.encode("utf-8")).hexdigest()[:8], 16) % HELDOUT_EVERY == 0 else "dev"


@dataclass(frozen=True)
class EvalQuery:
    query: str
    relevant: tuple[str, ...]
    intent: str | None = None  # the intent the bot would detect for it (for the intent-boost variants)

    @property
    def split(self) -> str:
        return split_of(self.query)


def load_queries(path: Path) -> list[EvalQuery]:
    """``{"query": …, "relevant": [ids], "intent"?: name}`` per line; blank lines are skipped."""
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            item = json.loads(line)
            if not isinstance(item.get("query"), str) or not isinstance(item.get("relevant", []), list) \
                    or not isinstance(item.get("intent"), str | None):
                raise ValueError(f"{path.name}:{n}: expected {{'query': str, 'relevant': [ids], 'intent'?: str}}")
            out.append(EvalQuery(item["query"], tuple(item.get("relevant", [])), item.get("intent")))
    return out


@dataclass(frozen=True)
class AnswerItem:
    query: str
    article: str
    contains: str


def load_answer_items(path: Path) -> list[AnswerItem]:
    """``{"query": …, "article": id, "contains": phrase}`` per line: the phrase the right passage includes."""
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            item = json.loads(line)
            if not all(isinstance(item.get(k), str) and item[k] for k in ("query", "article", "contains")):
                raise ValueError(f"{path.name}:{n}: expected {{'query': str, 'article': id, 'contains': str}}")
            out.append(AnswerItem(item["query"], item["article"], item["contains"]))
    return out


def _plain(text: str) -> str:
    """Lower case without Markdown emphasis, code marks, quote marks of the answer, or repeated white space."""
    return re.sub(r"\s+", " ", re.sub(r"[*`]|^> ?", "", text.lower(), flags=re.M)).strip()


async def evaluate_answers(
    conn: AsyncConnection[Any], embedder: Embedder, items: Sequence[AnswerItem], *,
    passages: Sequence[str] = PASSAGES, k: int = 4,
) -> dict[str, Any]:
    """For each question: hybrid search (``k`` articles, as the answer endpoint does), then the extractive
    answer quoting the best chunk ("chunk") or the best section of its article ("section").

    Returns per variant: ``article_correct`` (the answer cites the expected article), ``passage_contains``
    (its text contains the expected phrase; Markdown marks and case ignored), the mean quoted length,
    and the questions that failed.
    """
    report: dict[str, Any] = {"questions": len(items), "variants": {}}
    for variant in passages:
        correct = contains = chars = 0
        failed = []
        for item in items:
            vector = await embedder.aembed_query(item.query)
            hits = await search(conn, query=item.query, vector=vector, k=k,  # as an employee asks
                                model=embedder.model_id)
            if variant == "section":
                hits = await with_passages(conn, hits, question=item.query, vector=vector)
            if not hits:
                failed.append(item.query)
                continue
            answer = extractive(hits, confident=True)
            ok_article = hits[0].article_id == item.article
            ok_text = _plain(item.contains) in _plain(answer.text)
            correct += ok_article
            contains += ok_article and ok_text
            chars += len(hits[0].quote[1])
            if not (ok_article and ok_text):
                failed.append(item.query)
        n = max(len(items), 1)
        report["variants"][variant] = {"article_correct": round(correct / n, 4),
                                       "passage_contains": round(contains / n, 4),
                                       "mean_chars": round(chars / n), "failed": failed}
    return report


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (``p`` in 0..100)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def ranking_metrics(ranked: Sequence[Sequence[str]], relevant: Sequence[Sequence[str]]) -> dict[str, float]:
    """Mean recall@1/5/10, MRR (first relevant within 10) and binary nDCG@10 over the queries."""
    totals = {"recall@1": 0.0, "recall@5": 0.0, "recall@10": 0.0, "mrr": 0.0, "ndcg@10": 0.0}
    for ids, rel in zip(ranked, relevant, strict=True):
        wanted = set(rel)
        for k in (1, 5, 10):
            totals[f"recall@{k}"] += len(wanted & set(ids[:k])) / len(wanted)
        first = next((i for i, a in enumerate(ids[:10], start=1) if a in wanted), None)
        totals["mrr"] += 1 / first if first else 0.0
        dcg = sum(1 / math.log2(i + 1) for i, a in enumerate(ids[:10], start=1) if a in wanted)
        ideal = sum(1 / math.log2(i + 1) for i in range(1, min(len(wanted), 10) + 1))
        totals["ndcg@10"] += dcg / ideal
    return {k: round(v / max(len(ranked), 1), 4) for k, v in totals.items()}


@dataclass(frozen=True)
class Variant:
    """One way of searching, as reported: a name and the ``search`` options (``intent``: None, "right" or
    "wrong" — boost towards the query's own intent, or towards another one that none of its articles has)."""

    name: str
    mode: SearchMode
    options: Mapping[str, Any] = field(default_factory=dict)
    intent: str | None = None


VARIANTS: tuple[Variant, ...] = (
    Variant("vector", "vector"),
    Variant("text", "text"),
    Variant("rrf 1:1", "hybrid", {"fusion": "rrf", "text_weight": 1.0}),
    Variant("rrf 1:0.5", "hybrid", {"fusion": "rrf", "text_weight": 0.5}),
    Variant("score 0.05", "hybrid", {"fusion": "score", "text_weight": 0.05}),
    Variant("hybrid", "hybrid"),  # the default: score fusion, text weight 0.1
    Variant("score 0.2", "hybrid", {"fusion": "score", "text_weight": 0.2}),
    Variant("hybrid, title ×1 in text", "hybrid", {"rank_weights": (0.1, 0.2, 0.4, 0.4)}),
    Variant("hybrid, title ×5 in text", "hybrid", {"rank_weights": (0.1, 0.2, 0.2, 1.0)}),
    Variant("hybrid + right intent", "hybrid", intent="right"),
    Variant("hybrid + wrong intent", "hybrid", intent="wrong"),
)


def _wrong_intent(q: EvalQuery, boosts: Mapping[str, Boost], articles: Mapping[str, tuple[str | None, Sequence[str]]]
                  ) -> str | None:
    """A fixed (by text hash) intent none of whose categories or tags the query's relevant articles have."""
    names = sorted(n for n, b in boosts.items() if b.categories or b.tags)
    if not names:
        return None
    start = int(hashlib.sha256(q.query.encode("utf-8")).hexdigest()[8:16], 16)
    for i in range(len(names)):
        name = names[(start + i) % len(names)]
        if not any(boosts[name].matches(*articles.get(a, (None, ()))) for a in q.relevant):
            return name
    return None


async def evaluate(
    conn: AsyncConnection[Any], embedder: Embedder, queries: Sequence[EvalQuery], *,
    modes: Sequence[SearchMode] | None = None, variants: Sequence[Variant] = VARIANTS, negatives: Sequence[str] = (),
    thresholds: Sequence[float] = (0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6),
    boosts: Mapping[str, Boost] | None = None, parent: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Runs every query in every variant against the index behind ``conn``.

    Parameters: ``queries`` with their relevant article ids (and intents); ``variants`` (``modes`` keeps only
    the plain variants of these modes); ``boosts`` intent name → boost (without, the intent variants are
    skipped); ``parent`` maps indexed article ids to the ids the queries name (a KB split into pieces: a hit
    on a piece counts for its article, ranked at its first piece); ``negatives`` questions the KB does not answer, used to report how the answer thresholds separate
    them (best similarity of hybrid's hits). Returns a JSON-able report: per variant the ranking metrics over
    all queries and per split (``dev``, ``heldout``), and latency percentiles (query embedding included, and
    reported separately).
    """
    embedder.embed_query("warm-up")
    if modes is not None:
        variants = [v for v in variants if v.mode in modes and not v.options and v.intent is None]
    if not boosts:
        variants = [v for v in variants if v.intent is None]
    articles = {(parent or {}).get(r["id"], r["id"]): (r["category"], r["tags"]) for r in
                await (await conn.execute("SELECT id, category, tags FROM kb_articles")).fetchall()}
    results: dict[str, Any] = {"queries": len(queries), "model": embedder.model_id, "modes": {},
                               "splits": {s: sum(q.split == s for q in queries) for s in ("dev", "heldout")}}
    best_pos: list[float] = []
    top1_ok: list[bool] = []
    for v in variants:
        ranked, total_ms, embed_ms, db_ms = [], [], [], []
        for q in queries:
            boost = None
            if v.intent and boosts:
                name = q.intent if v.intent == "right" else _wrong_intent(q, boosts, articles)
                boost = boosts.get(name) if name else None
            hits, t_embed, t_db = await _timed_search(conn, embedder, q.query, v.mode, dict(v.options), boost)
            ranked.append(list(dict.fromkeys(parent.get(h.article_id, h.article_id) if parent else h.article_id
                                             for h in hits)))
            embed_ms.append(t_embed)
            db_ms.append(t_db)
            total_ms.append(t_embed + t_db)
            if v.name == "hybrid":
                best_pos.append(max((h.similarity or 0.0) for h in hits) if hits else 0.0)
                top1_ok.append(bool(ranked[-1]) and ranked[-1][0] in q.relevant)
        metrics: dict[str, Any] = dict(ranking_metrics(ranked, [q.relevant for q in queries]))
        for split in ("dev", "heldout"):
            idx = [i for i, q in enumerate(queries) if q.split == split]
            if idx:
                metrics[split] = ranking_metrics([ranked[i] for i in idx], [queries[i].relevant for i in idx])
        results["modes"][v.name] = metrics | {
            "latency_ms": {"p50": round(percentile(total_ms, 50), 2), "p95": round(percentile(total_ms, 95), 2)},
            "query_embedding_ms": {"p50": round(percentile(embed_ms, 50), 2), "p95": round(percentile(embed_ms, 95), 2)},
            "db_ms": {"p50": round(percentile(db_ms, 50), 2), "p95": round(percentile(db_ms, 95), 2)},
        }
    if negatives and best_pos:
        best_neg = []
        for text in negatives:
            hits, _, _ = await _timed_search(conn, embedder, text, "hybrid")
            best_neg.append(max((h.similarity or 0.0) for h in hits) if hits else 0.0)
        results["thresholds"] = [
            {"min_similarity": t,
             "answerable_answered": round(sum(s >= t for s in best_pos) / len(best_pos), 4),
             "answered_top1_correct": round(sum(ok for s, ok in zip(best_pos, top1_ok, strict=True) if s >= t)
                                            / max(sum(s >= t for s in best_pos), 1), 4),
             "unanswerable_refused": round(sum(s < t for s in best_neg) / len(best_neg), 4)}
            for t in thresholds]
        results["negatives"] = len(negatives)
    return results


async def _timed_search(conn: AsyncConnection[Any], embedder: Embedder, query: str, mode: SearchMode,
                        options: dict[str, Any] | None = None, boost: Boost | None = None,
                        ) -> tuple[list[Any], float, float]:
    t0 = time.perf_counter()
    vector = None if mode == "text" else await embedder.aembed_query(query)
    t1 = time.perf_counter()
    hits = await search(conn, query=query, vector=vector, k=10, mode=mode, audiences=AUDIENCES,
                        model=embedder.model_id, boost=boost, **(options or {}))
    t2 = time.perf_counter()
    return hits, (t1 - t0) * 1000, (t2 - t1) * 1000
