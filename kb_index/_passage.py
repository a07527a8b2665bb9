"""Answer passages: the whole section a hit belongs to, chosen for the question, trimmed at whole blocks.

A chunk is the unit of *retrieval*; it is a poor unit to *quote*: a cut can fall in the middle of a
procedure (the answer starts at step 3), and the chunk nearest to the question is often the one
that repeats its words ("Before you start: … macOS laptop …") rather than the one that answers it.
So an answer quotes a section of the article — the text under one heading, as the chunker splits
it (``sections``) — chosen among the article's sections by:

    score = best similarity of the question to the section's chunks
          + HEADING_WEIGHT × share of the question's words found in the section's heading path
          + CONTENT_WEIGHT × share of the question's words found in the section's text
          + STEPS_BONUS when the question asks how to do something and the section is a numbered procedure
          − INTRO_PENALTY when it asks how to do something and the section is the article's introduction
            (an overview: it names everything the article covers, so it is near many questions)

Words match when one is a prefix of the other (at least 3 letters), so "mac" finds "macOS" and
"guests" finds "Guests". The weights were picked on ``data/kb_eval/answers.jsonl`` (docs/knowledge.md):
the quoted passage contains the expected answer for 34 of 42 questions with them, 20 when quoting the best
chunk (the article is right for 39 of 42).
The section is then trimmed to ``max_chars`` at whole blocks — a list item with its sub-items, a
paragraph, a table row — never in the middle of a step.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
from psycopg import AsyncConnection

from kb_index._chunk import sections
from kb_index._sql import Q
from kb_index._types import Article, SearchHit

HEADING_WEIGHT = 0.15
CONTENT_WEIGHT = 0.10
STEPS_BONUS = 0.10
INTRO_PENALTY = 0.05
MAX_CHARS = 1200
_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset("a an and are as at be can do does for from how i if in is it my of on or the to what when where "
                  "which who why with you your me we our this that not get got so am was there any".split())
_HOW = re.compile(r"\b(how|steps?|set ?up|install|add|configure|enrol+|connect|move|reset|request|get)\b", re.I)
_STEP = re.compile(r"^\s*\d+[.)]\s", re.M)
_BLOCK_START = re.compile(r"^(?:[-*+]|\d+[.)]|\|)\s|^\S")


@dataclasses.dataclass(frozen=True)
class Section:
    """One section of an article: its heading path, text and best chunk similarity to the question."""

    path: tuple[str, ...]
    text: str
    similarity: float


def words(text: str) -> set[str]:
    """The content words of ``text``, lower-cased (stop words dropped)."""
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP and len(w) > 1}


def share(wanted: set[str], found: set[str]) -> float:
    """The share of ``wanted`` words that ``found`` contains, a prefix of at least 3 letters counting."""
    if not wanted:
        return 0.0
    hits = sum(1 for w in wanted if w in found or (len(w) >= 3 and any(
        len(f) >= 3 and (f.startswith(w) or w.startswith(f)) for f in found)))
    return hits / len(wanted)


def section_score(question: str, section: Section) -> float:
    """How well ``section`` answers ``question`` (see the module docstring)."""
    wanted = words(question)
    score = section.similarity
    score += HEADING_WEIGHT * share(wanted, words(" ".join(section.path)))
    score += CONTENT_WEIGHT * share(wanted, words(section.text))
    if _HOW.search(question):
        if len(_STEP.findall(section.text)) >= 2:
            score += STEPS_BONUS
        if not section.path:
            score -= INTRO_PENALTY
    return score


def choose_section(question: str, candidates: Sequence[Section]) -> Section:
    """The section that best answers ``question``; the first one on ties (reading order)."""
    return max(candidates, key=lambda s: (section_score(question, s), -candidates.index(s)))


def trim(text: str, max_chars: int = MAX_CHARS) -> str:
    """``text`` cut to at most ``max_chars`` at a block boundary (list item with its sub-items, paragraph,
    table row), with "…" on a line of its own when something was left out. A first block longer than
    ``max_chars`` is cut at a sentence, else a word."""
    blocks: list[list[str]] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        if blocks and not _BLOCK_START.match(line):  # indented: a sub-item or continuation of the block above
            blocks[-1].append(line.rstrip())
        else:
            blocks.append([line.rstrip()])
    out: list[str] = []
    used = 0
    for block in blocks:
        size = sum(len(ln) + 1 for ln in block)
        if out and used + size > max_chars:
            return "\n".join(out + ["…"])
        if not out and size > max_chars:
            head = "\n".join(block)[:max_chars]
            cut = max(head.rfind(". "), head.rfind(".\n"))
            head = head[:cut + 1] if cut > max_chars // 3 else head.rsplit(" ", 1)[0]
            return head + "\n…"
        out.extend(block)
        used += size
    return "\n".join(out)


async def with_passages(
    conn: AsyncConnection[Any], hits: Sequence[SearchHit], *, question: str, vector: np.ndarray,
    max_chars: int = MAX_CHARS,
) -> list[SearchHit]:
    """``hits`` with ``passage`` and ``passage_path`` set: for each article the section that best answers
    ``question`` (``vector`` is its unit embedding), trimmed to ``max_chars``."""
    if not hits:
        return []
    ids = [h.article_id for h in hits]
    bodies = {r["id"]: r for r in await (await conn.execute(Q.article_bodies, {"ids": ids})).fetchall()}
    sims: dict[tuple[str, tuple[str, ...]], float] = {
        (r["article_id"], tuple(r["heading_path"])): float(r["similarity"])
        for r in await (await conn.execute(Q.section_similarity, {"ids": ids, "vec": vector})).fetchall()}
    out = []
    for hit in hits:
        row = bodies.get(hit.article_id)
        if row is None:
            out.append(hit)
            continue
        article = Article(id=row["id"], title=row["title"], body=row["body"])
        candidates = [Section(path, text, sims.get((hit.article_id, path), 0.0)) for path, text in sections(article)]
        if not candidates:
            out.append(hit)
            continue
        best = choose_section(question, candidates)
        out.append(dataclasses.replace(hit, passage=trim(best.text, max_chars), passage_path=best.path))
    return out
