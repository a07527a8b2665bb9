"""The value types shared by the kb_index modules."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Audience = Literal["employee", "agent"]
Status = Literal["draft", "published"]
Format = Literal["markdown", "html", "text"]
Mode = Literal["llm", "extractive", "none"]
SearchMode = Literal["hybrid", "vector", "text"]
AUDIENCES: tuple[Audience, ...] = ("employee", "agent")


@dataclass(frozen=True)
class Article:
    """One knowledge-base article; ``body`` is Markdown-like text (HTML is converted on parsing)."""

    id: str
    title: str
    body: str
    category: str | None = None
    tags: tuple[str, ...] = ()
    url: str | None = None
    audience: Audience = "employee"
    status: Status = "published"
    format: Format = "markdown"
    source_path: str | None = None


@dataclass(frozen=True)
class Chunk:
    """A piece of an article small enough for the embedding model, with its heading path."""

    ord: int
    heading_path: tuple[str, ...]
    content: str
    token_count: int

    def embedding_text(self, title: str) -> str:
        """What gets embedded: the article title and heading path give the passage its context."""
        return "\n".join([" > ".join((title, *self.heading_path)), self.content])


@dataclass(frozen=True)
class SearchHit:
    """One article in a result list, represented by its best chunk."""

    article_id: str
    title: str
    url: str | None
    category: str | None
    audience: Audience
    chunk_id: int
    heading_path: tuple[str, ...]
    content: str
    snippet: str
    score: float
    similarity: float | None = None
    text_rank: float | None = None
    passage: str | None = None  # the section to quote in an answer (``with_passages``), else ``content``
    passage_path: tuple[str, ...] | None = None
    tags: tuple[str, ...] = ()  # the article's

    @property
    def quote(self) -> tuple[tuple[str, ...], str]:
        """The heading path and text an answer quotes: the chosen section when set, else the chunk."""
        if self.passage is not None:
            return (self.passage_path or ()), self.passage
        return self.heading_path, self.content


@dataclass(frozen=True)
class Citation:
    n: int
    title: str
    url: str | None
    article_id: str


@dataclass(frozen=True)
class Answer:
    text: str
    citations: tuple[Citation, ...]
    confident: bool
    mode: Mode
    best_similarity: float | None = None
    fallback_reason: str | None = None
