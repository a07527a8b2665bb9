"""Hybrid search: nearest chunks by vector and best chunks by full text, fused by score (default) or rank.

Each list is cut to ``candidates`` chunks. Score fusion: a chunk scores its similarity plus ``TEXT_SCORE_WEIGHT``
× its full-text rank relative to the query's best; weighted RRF: articles are ranked over their best position in
each list (``weight/(rrf_k + rank)`` summed). An article is represented by its best chunk; an optional ``Boost``
(an intent's categories and tags) adds to the score of matching articles, never filtering. ``similarity`` (cosine of query and that chunk) is kept on every hit: it is the
absolute signal the answer step uses to decide whether retrieval found anything at all.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from psycopg import AsyncConnection
from psycopg import sql as pgsql

from kb_index._embed import DIMENSIONS, MODEL_NAME, Embedder
from kb_index._sql import Q
from kb_index._types import Audience, SearchHit, SearchMode

RRF_K = 60
FUSION = "score"  # "score" (default, picked on the eval sets) or "rrf" (weighted reciprocal-rank fusion)
TEXT_SCORE_WEIGHT = 0.1  # score fusion: similarity + 0.1 × relative full-text rank (docs/knowledge.md)
TEXT_WEIGHT = 1.0  # the full-text list's weight in the fusion (the vector list's is 1); see docs/knowledge.md
MIN_WORDS = 2  # a full-text match needs this many of the query's words…
WORD_FRACTION = 0.5  # …or this share of them, whichever is more
RANK_WEIGHTS = (0.1, 0.2, 0.4, 1.0)  # ts_rank_cd's weights of the D, C, B (content), A (title, headings, tags) fields
TEXT_CANDIDATES = 2000  # matches ranked at most per query
INTENT_BOOST = 0.05  # added to the score of articles of the asker's intent (docs/knowledge.md: right +, wrong −)
EF_SEARCH = 500  # HNSW candidates (pgvector: 40); bench/kb_scale.py at 100k chunks: recall@10 0.986 (100: 0.84), p95 16 ms
_WORD = re.compile(r"[a-z0-9]+(?:['-][a-z0-9]+)*")
_STOP = frozenset("a an and are as at be can do does for from how i if in is it my of on or the to what when "
                  "where which who why with you your me we our this that not get".split())


@dataclass(frozen=True)
class Boost:
    """A soft preference for articles of some categories or tags (an intent's), added to their score."""

    categories: frozenset[str] = frozenset()
    tags: frozenset[str] = frozenset()
    weight: float = INTENT_BOOST

    def matches(self, category: str | None, tags: Sequence[str] | None) -> bool:
        return (category in self.categories) or bool(self.tags.intersection(tags or ()))


@dataclass
class _Fused:
    row: dict[str, Any]
    score: float = 0.0
    chunk_scores: dict[int, float] = field(default_factory=dict)
    rows: dict[int, dict[str, Any]] = field(default_factory=dict)


async def search(
    conn: AsyncConnection[Any], *, query: str, embedder: Embedder | None = None, vector: np.ndarray | None = None,
    k: int = 5, mode: SearchMode = "hybrid", category: str | None = None,
    audiences: Sequence[Audience] = ("employee",), include_drafts: bool = False, candidates: int = 50,
    text_weight: float | None = None, fusion: str | None = None, boost: Boost | None = None,
    model: str | None = None, rank_weights: Sequence[float] = RANK_WEIGHTS,
) -> list[SearchHit]:
    """Ranked articles for ``query``, one hit per article.

    Parameters: ``embedder`` or a precomputed unit ``vector`` of the query (one is needed unless
    ``mode="text"``; with a bare vector, ``model`` names its model, default the bundled MiniLM); ``k`` articles
    to return; ``mode`` hybrid, vector or text; ``category`` to restrict to one; ``audiences`` the audiences the
    reader may see; ``include_drafts`` for editors; ``fusion`` "score" or "rrf" (default ``FUSION``) with
    ``text_weight`` (default per fusion); ``rank_weights`` full text's field weights (D, C, B = content,
    A = title, headings and tags); ``boost`` a soft preference (an intent's categories and tags), never a
    filter. The connection must use ``dict_row`` and have the vector type registered.
    Returns at most ``k`` hits, best first.
    """
    model = model or (embedder.model_id if embedder is not None else MODEL_NAME)
    if vector is None and mode != "text":
        if embedder is None:
            raise ValueError("search needs an embedder or a query vector")
        vector = await embedder.aembed_query(query)
    limit = max(candidates, k)
    params = {"vec": vector, "query": query, "category": category, "audiences": list(audiences), "model": model,
              "rank_weights": list(rank_weights), "limit": limit,
              "statuses": ["published", "draft"] if include_drafts else ["published"]}
    lists: list[list[dict[str, Any]]] = []
    # pipelined: the settings, the vector search and the query's lexemes go in one round trip, the full-text
    # search (built from the lexemes) and the commit in a second (six round trips before)
    async with conn.pipeline(), conn.transaction():
        await conn.execute(Q.search_settings, {"ef_search": str(max(EF_SEARCH, limit))})
        vector_cur = lexemes_cur = None
        if mode in ("hybrid", "vector"):
            dims = len(vector) if vector is not None else DIMENSIONS
            statement = pgsql.SQL(Q.search_vector).format(dims=pgsql.Literal(dims))  # type: ignore[arg-type]
            vector_cur = await conn.execute(statement, params)
        if mode in ("hybrid", "text"):
            lexemes_cur = await conn.execute(Q.query_lexemes, params)
        if vector_cur is not None:
            lists.append(sorted(await vector_cur.fetchall(), key=lambda r: -r["similarity"]))
        if lexemes_cur is not None:
            words = [r["w"] for r in await lexemes_cur.fetchall()]
            if words:
                lists.append(await (await conn.execute(Q.search_text, params | text_query(words))).fetchall())
    fusion = fusion or FUSION
    if mode == "hybrid" and fusion == "score":
        fused = fuse_scores(lists, text_weight=TEXT_SCORE_WEIGHT if text_weight is None else text_weight)
    else:
        weights = (1.0, TEXT_WEIGHT if text_weight is None else text_weight) if mode == "hybrid" else (1.0,)
        fused = fuse(lists, weights=weights[:len(lists)])
        if mode == "vector":  # rank by similarity, so a boost is in the same unit as in score fusion
            for f in fused:
                f.score = float(f.row.get("similarity") or 0.0)
    if boost is not None and boost.weight:
        rank_scale = mode == "text" or (mode == "hybrid" and fusion != "score")  # RRF scores: 1/61 at best
        for f in fused:
            if boost.matches(f.row.get("category"), f.row.get("tags")):
                f.score += boost.weight / (RRF_K + 1) if rank_scale else boost.weight
        fused.sort(key=lambda f: (-f.score, -(f.row.get("similarity") or 0.0)))
    return [_hit(f, query, mode) for f in fused[:k]]


def fuse_scores(lists: Sequence[Sequence[dict[str, Any]]], *, text_weight: float) -> list[_Fused]:
    """Score fusion at article level: a chunk scores its cosine similarity plus ``text_weight`` × its full-text
    rank relative to the best full-text match of the query (0..1); each article keeps its best chunk."""
    rows: dict[int, dict[str, Any]] = {}
    for rows_ in lists:
        for row in rows_:
            before = rows.get(row["chunk_id"], {})
            rows[row["chunk_id"]] = dict(row) | {k: before[k] for k in ("similarity", "text_rank")
                                                  if row.get(k) is None and before.get(k) is not None}
    top = max((float(r["text_rank"]) for r in rows.values() if r.get("text_rank")), default=0.0)
    fused: dict[str, _Fused] = {}
    for cid, row in rows.items():
        score = float(row.get("similarity") or 0.0) + (
            text_weight * float(row["text_rank"]) / top if top and row.get("text_rank") else 0.0)
        entry = fused.setdefault(row["article_id"], _Fused(row, score=score))
        entry.chunk_scores[cid] = score
        if score >= entry.score:
            entry.row, entry.score = row, score
    return sorted(fused.values(), key=lambda f: (-f.score, -(f.row.get("similarity") or 0.0)))


def text_query(words: Sequence[str]) -> dict[str, Any]:
    """The full-text queries for a question's lexemes: ``match`` needs about half of them together
    (at least two, when there are two), ``any_word`` ranks by all of them."""
    quoted = ["'" + w.replace("'", "''") + "'" for w in words]
    need = min(len(quoted), max(MIN_WORDS, math.ceil(len(quoted) * WORD_FRACTION)))
    match = " | ".join("(" + " & ".join(combo) + ")" for combo in itertools.combinations(quoted, need))
    return {"match": match, "any_word": " | ".join(quoted), "text_candidates": TEXT_CANDIDATES}


def fuse(lists: Sequence[Sequence[dict[str, Any]]], *, rrf_k: int = RRF_K,
         weights: Sequence[float] | None = None) -> list[_Fused]:
    """Weighted reciprocal-rank fusion at article level (``weight / (rrf_k + rank)`` per list, ``weights``
    in the order of ``lists``, 1 each by default); each article keeps its best fused chunk."""
    fused: dict[str, _Fused] = {}
    for rows, weight in zip(lists, weights or [1.0] * len(lists), strict=True):
        article_rank: dict[str, int] = {}
        for chunk_rank, row in enumerate(rows, start=1):
            entry = fused.setdefault(row["article_id"], _Fused(row))
            if row["article_id"] not in article_rank:
                article_rank[row["article_id"]] = len(article_rank) + 1
                entry.score += weight / (rrf_k + article_rank[row["article_id"]])
            cid = row["chunk_id"]
            entry.chunk_scores[cid] = entry.chunk_scores.get(cid, 0.0) + weight / (rrf_k + chunk_rank)
            before = entry.rows.get(cid, {})
            entry.rows[cid] = dict(row) | {k: before[k] for k in ("similarity", "text_rank")
                                           if row.get(k) is None and before.get(k) is not None}
    for entry in fused.values():
        best = max(entry.chunk_scores, key=lambda c: entry.chunk_scores[c])
        entry.row = entry.rows[best]
    return sorted(fused.values(), key=lambda f: (-f.score, -(f.row.get("similarity") or 0.0)))


def _hit(f: _Fused, query: str, mode: SearchMode) -> SearchHit:
    r = f.row
    similarity = float(r["similarity"]) if r.get("similarity") is not None else None
    text_rank = float(r["text_rank"]) if r.get("text_rank") is not None else None
    score = {"hybrid": f.score, "vector": f.score, "text": text_rank}[mode]
    return SearchHit(
        article_id=r["article_id"], title=r["title"], url=r["url"], category=r["category"],
        audience=r["audience"], chunk_id=r["chunk_id"], heading_path=tuple(r["heading_path"]),
        content=r["content"], snippet=snippet(r["content"], query), score=round(float(score or 0.0), 6),
        similarity=similarity, text_rank=text_rank, tags=tuple(r.get("tags") or ()),
    )


def _terms(text: str) -> set[str]:
    return {w[:5] for w in _WORD.findall(text.lower()) if w not in _STOP}


def snippet(content: str, query: str, *, max_chars: int = 280) -> str:
    """The passage of ``content`` around the lines that share most words with ``query``."""
    lines = [ln.strip() for ln in content.splitlines() if ln.strip()]
    if not lines:
        return ""
    wanted = _terms(query)
    scores = [len(wanted & _terms(ln)) for ln in lines]
    start = max(range(len(lines)), key=lambda i: (scores[i], -i))
    text = lines[start]
    for ln in lines[start + 1:]:
        if len(text) + len(ln) + 1 > max_chars:
            break
        text += " " + ln
    if len(text) > max_chars:
        text = text[:max_chars].rsplit(" ", 1)[0] + "…"
    return text
