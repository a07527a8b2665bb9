"""Knowledge-base API shapes: search, answers with citations, feedback, articles, trends, suggestions."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=100)]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]
Tag = Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, min_length=1, max_length=50)]
Audience = Literal["employee", "agent"]


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: Text
    k: int = Field(default=5, ge=1, le=20)
    category: Annotated[str, StringConstraints(max_length=64)] | None = None


class SearchResult(BaseModel):
    article_id: str
    title: str
    url: str
    category: str | None
    snippet: str
    heading_path: list[str]
    score: float = Field(description="fused score of the article: its best chunk's similarity plus 0.1 × its "
                                     "relative full-text rank (higher is better)")
    similarity: float | None = Field(description="cosine similarity of the query and the best chunk")


class SearchResponse(BaseModel):
    results: list[SearchResult]


class AnswerRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: Text
    intent: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")] | None = Field(
        default=None, description="the intent the bot detected (a Rasa intent name such as printer_problem): a "
                                  "soft boost towards articles of its categories and tags (data/kb/intents.yml), "
                                  "never a filter; an intent the map does not know boosts nothing")


class Citation(BaseModel):
    n: int
    title: str
    url: str
    article_id: str


class AnswerResponse(BaseModel):
    answer: str = Field(description="empty when mode is 'none': the client says it doesn't know and offers a ticket")
    citations: list[Citation]
    confident: bool
    mode: Literal["llm", "extractive", "none"]
    answer_id: int
    top_score: float | None = Field(default=None, description="cosine similarity of the question and the best "
                                    "chunk of the top article (compare with DESKMATE_KB_MIN_SIMILARITY); null when "
                                    "nothing was found")
    intent_match: bool = Field(default=False, description="whether the top article belongs to the request's intent")


class Feedback(BaseModel):
    model_config = ConfigDict(extra="forbid")

    helpful: bool


class ArticleWrite(BaseModel):
    """An article as an admin writes it; an HTML body is converted to Markdown-like text."""

    model_config = ConfigDict(extra="forbid")

    title: Title
    body: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200_000)]
    format: Literal["markdown", "html", "text"] = "markdown"
    category: Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, max_length=64)] | None = None
    tags: list[Tag] = Field(default_factory=list, max_length=30)
    url: Annotated[str, StringConstraints(max_length=500)] | None = None
    audience: Audience = "employee"
    status: Literal["draft", "published"] = "published"


class ArticleCreate(ArticleWrite):
    id: Slug | None = Field(default=None, description="defaults to a slug of the title")


class ArticleSummary(BaseModel):
    id: str
    title: str
    category: str | None
    tags: list[str]
    url: str
    audience: Audience
    status: Literal["draft", "published"]
    views: int
    helpful_count: int
    not_helpful_count: int
    updated_at: datetime


class Article(ArticleSummary):
    """An article with its body, as one reads it."""

    format: str
    body: str
    version: int
    created_at: datetime


class TrendCluster(BaseModel):
    suggestion_id: int | None = Field(description="the open suggestion this cluster matches; null until a refresh "
                                                  "(POST /kb/trends/suggestions) stored one")
    size: int
    suggested_title: str
    keywords: list[str]
    questions: list[str] = Field(description="examples, most typical first")
    answer_ids: list[int]
    ticket_ids: list[int]


class Trends(BaseModel):
    generated_at: datetime
    days: int
    questions_considered: int
    tickets_considered: int
    clusters: list[TrendCluster]


class Suggestion(BaseModel):
    id: int
    title: str
    questions: list[str]
    size: int
    answer_ids: list[int]
    ticket_ids: list[int]
    status: Literal["open", "approved", "dismissed"]
    article_id: str | None
    decided_by: int | None
    decided_at: datetime | None
    created_at: datetime
    updated_at: datetime


class RelatedArticles(BaseModel):
    ticket_id: int
    results: list[SearchResult]


class SimilarTicket(BaseModel):
    """A resolved or closed ticket close in meaning to another one, with how it was resolved."""

    id: int
    number: str
    title: str
    status: str
    resolution: str | None = Field(description="auto (a verified workflow run) or agent")
    resolved_at: datetime | None
    similarity: float = Field(description="cosine similarity of the two tickets' texts")
    resolution_text: str | None = Field(description="the reason given when it was last resolved, else its last "
                                                    "public comment")
