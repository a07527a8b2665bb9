"""Chunking: sections by heading, packed into pieces that fit the embedding model, with overlap.

A chunk never crosses a heading, so it keeps the heading path it sits under. A section longer than
the budget is cut at sentence (then word) boundaries; each cut chunk starts with the last sentences
of the one before (up to ``overlap_tokens``) so an answer split across the cut is still found.
The budget counts the whole embedded text: article title and heading path plus the content.
The defaults (128 tokens, 40 overlap) scored best on the demo eval set (docs/knowledge.md); the
hard limit is the model's 256 word pieces.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from kb_index._types import Article, Chunk

TokenCounter = Callable[[str], int]
CHUNKER_VERSION = "3"
MODEL_TOKEN_LIMIT = 256 - 2  # all-MiniLM-L6-v2: 256 word pieces including [CLS] and [SEP]
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'*(\[A-Z0-9])")
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
_NAVIGATION = re.compile(r"^(related( articles| links)?|see also|further reading)$", re.IGNORECASE)


@dataclass(frozen=True)
class _Unit:
    text: str
    tokens: int
    new_line: bool  # starts a new line (else continues the sentence's paragraph)


def sections(article: Article) -> list[tuple[tuple[str, ...], str]]:
    """The article body split at headings: ``(heading path, text)`` pairs, empty sections dropped.

    An H1 that repeats the title is not part of the path (the title is shown with every chunk).
    "Related" / "See also" sections are navigation, not content: they are left out of the index
    (they would match questions about the articles they link to, and make poor quotes).
    """
    path: list[tuple[int, str]] = []
    out: list[tuple[tuple[str, ...], list[str]]] = [((), [])]
    in_code = False
    for line in article.body.splitlines():
        if _FENCE.match(line):
            in_code = not in_code
        heading = None if in_code else _HEADING.match(line)
        if heading is None:
            out[-1][1].append(line)
            continue
        level, text = len(heading.group(1)), heading.group(2).strip().strip("*_")
        path = [(lvl, t) for lvl, t in path if lvl < level]
        if not (level == 1 and text.lower() == article.title.lower()):
            path.append((level, text))
        out.append((tuple(t for _, t in path), []))
    return [(p, "\n".join(lines).strip()) for p, lines in out
            if "\n".join(lines).strip() and not (p and _NAVIGATION.match(p[-1]))]


def chunk_article(
    article: Article, *, count_tokens: TokenCounter, max_tokens: int = 128, overlap_tokens: int = 40
) -> list[Chunk]:
    """Splits an article into chunks.

    Parameters: ``count_tokens`` the model's word-piece counter; ``max_tokens`` the budget of the
    embedded text (title, heading path and content; at most the model's limit of 254);
    ``overlap_tokens`` how much of a cut chunk is repeated at the start of the next.
    Returns chunks in reading order.
    """
    max_tokens = min(max_tokens, MODEL_TOKEN_LIMIT)
    chunks: list[Chunk] = []
    for path, text in sections(article):
        prefix = count_tokens(" > ".join((article.title, *path)))
        budget = max(max_tokens - prefix, 32)
        for content, tokens in _pack(_units(text, count_tokens, budget), budget, overlap_tokens, count_tokens):
            chunks.append(Chunk(ord=len(chunks), heading_path=path, content=content, token_count=tokens + prefix))
    return chunks


def _units(text: str, count: TokenCounter, budget: int) -> list[_Unit]:
    """Sentences (and list items, code lines) with their token counts; none longer than ``budget``."""
    units: list[_Unit] = []
    in_code = False
    for line in text.splitlines():
        if _FENCE.match(line):
            in_code = not in_code
        if not line.strip():
            continue
        pieces = [line] if in_code or _LIST_ITEM.match(line) else _SENTENCE_END.split(line.strip())
        for i, piece in enumerate(pieces):
            for part in _fit(piece, count, budget):
                units.append(_Unit(part, count(part), new_line=i == 0))
    return units


def _fit(text: str, count: TokenCounter, budget: int) -> list[str]:
    """``text`` cut at word boundaries into parts of at most ``budget`` tokens."""
    if count(text) <= budget:
        return [text]
    parts: list[str] = []
    words: list[str] = []
    used = 0
    for word in text.split():
        n = count(word)
        if words and used + n > budget:
            parts.append(" ".join(words))
            words, used = [], 0
        words.append(word)
        used += n
    if words:
        parts.append(" ".join(words))
    return parts


def _join(units: list[_Unit]) -> str:
    out = ""
    for u in units:
        out += ("\n" if u.new_line else " ") + u.text if out else u.text
    return out


def _tail(units: list[_Unit], overlap: int, count: TokenCounter) -> list[_Unit]:
    """The last units of a chunk that fit in ``overlap`` tokens (else the last words of the last unit)."""
    tail: list[_Unit] = []
    used = 0
    for u in reversed(units):
        if used + u.tokens > overlap:
            break
        tail.insert(0, u)
        used += u.tokens
    if tail or not units or overlap <= 0:
        return tail
    words: list[str] = []
    for word in reversed(units[-1].text.split()):
        n = count(word)
        if used + n > overlap:
            break
        words.insert(0, word)
        used += n
    return [_Unit(" ".join(words), used, new_line=True)] if words else []


def _pack(units: list[_Unit], budget: int, overlap: int, count: TokenCounter) -> list[tuple[str, int]]:
    """Greedy packing of units into chunks of at most ``budget`` tokens with overlapping starts."""
    chunks: list[tuple[str, int]] = []
    current: list[_Unit] = []
    fresh = 0  # units in ``current`` that are not repeated from the previous chunk
    for unit in units:
        if current and fresh and sum(u.tokens for u in current) + unit.tokens > budget:
            chunks.append((_join(current), sum(u.tokens for u in current)))
            current = _tail(current, overlap, count)
            while current and sum(u.tokens for u in current) + unit.tokens > budget:
                current.pop(0)
            fresh = 0
        current.append(unit)
        fresh += 1
    if current and fresh:
        chunks.append((_join(current), sum(u.tokens for u in current)))
    return chunks
