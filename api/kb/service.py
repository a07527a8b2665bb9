"""Knowledge-base rules: who sees which article, search, answers (stored), feedback, article CRUD.

Employees see published articles for employees; agents and admins also see agent articles; only
admins see drafts. Embedding runs in a worker thread before any transaction opens, so a write
transaction only swaps rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from psycopg.errors import UniqueViolation

import kb_index
from api import idempotency, sql
from api.auth.models import Principal, Role
from api.db import Conn
from api.errors import Conflict, NotFound, ValidationFailed
from api.kb import embedding, intents
from api.kb.models import (
    AnswerResponse,
    Article,
    ArticleCreate,
    ArticleSummary,
    ArticleWrite,
    Citation,
    RelatedArticles,
    SearchRequest,
    SearchResponse,
    SearchResult,
)
from api.observability import metrics
from api.settings import Settings
from api.tickets import service as tickets

Q = sql.load("api.kb")
CREATE_SCOPE = "kb.articles.create"


@dataclass(frozen=True)
class Kb:
    """What the knowledge base needs besides a connection: the embedder of the KB's model, the LLM (or None),
    settings, and the intent map (intent → boost; empty: intents boost nothing)."""

    embedder: kb_index.Embedder
    llm: Any | None
    settings: Settings
    intents: Mapping[str, kb_index.Boost] = field(default_factory=dict)


async def best_score(conn: Conn, kb: Kb, *, text: str, audience: tuple[kb_index.Audience, ...] = ("employee",)
                     ) -> float | None:
    """The best retrieval score for ``text``: the cosine similarity of its best-matching chunk among published
    articles of ``audience`` (an in-domain signal; compare with DESKMATE_KB_MIN_SIMILARITY), None when the KB has
    nothing. One query embedding and one vector search (no full text); stores nothing."""
    hits = await kb_index.search(conn, query=text, embedder=kb.embedder, k=1, mode="vector", audiences=audience)
    return hits[0].similarity if hits else None


def kb_state(settings: Settings) -> tuple[kb_index.Embedder, dict[str, kb_index.Boost]]:
    """The KB's embedder (DESKMATE_KB_EMBED_MODEL) and intent map (DESKMATE_KB_INTENTS_FILE), validated now."""
    return embedding.get_kb_embedder(settings), intents.load(settings.kb_intents_file)


def llm_from_settings(settings: Settings) -> Any | None:
    """A chat model when DESKMATE_LLM_MODEL is set, else None (extractive answers)."""
    if not settings.llm_model:
        return None
    return kb_index.make_llm(kb_index.LLMConfig(
        model=settings.llm_model, base_url=settings.llm_base_url,
        api_key=settings.llm_api_key.get_secret_value() if settings.llm_api_key else None,
        timeout_s=settings.llm_timeout_s, max_retries=settings.llm_max_retries,
        temperature=settings.llm_temperature, max_tokens=settings.llm_max_tokens, token_param=settings.llm_token_param,
    ))


def audiences(p: Principal) -> tuple[kb_index.Audience, ...]:
    return kb_index.AUDIENCES if p.is_staff else ("employee",)


def can_see(p: Principal, row: dict[str, Any]) -> bool:
    if row["status"] != "published" and p.role is not Role.admin:
        return False
    return row["audience"] in audiences(p)


def article_url(settings: Settings, article_id: str, url: str | None) -> str:
    """The article's own URL, or its API address when it has none."""
    return url or f"{settings.base_url}/api/v1/kb/articles/{article_id}"


def own_hosts(settings: Settings) -> set[str]:
    """deskmate's own host: answers may link to it (articles without a URL are cited by their API address)."""
    host = kb_index.link_host(settings.base_url)
    return {host} if host else set()


def _result(settings: Settings, hit: kb_index.SearchHit) -> SearchResult:
    return SearchResult(article_id=hit.article_id, title=hit.title, url=article_url(settings, hit.article_id, hit.url),
                        category=hit.category, snippet=hit.snippet, heading_path=list(hit.heading_path),
                        score=hit.score, similarity=hit.similarity)


async def search(conn: Conn, kb: Kb, *, principal: Principal, data: SearchRequest) -> SearchResponse:
    with metrics.kb_search("search"):
        hits = await kb_index.search(conn, query=data.query, embedder=kb.embedder, k=data.k, category=data.category,
                                     audiences=audiences(principal), mode=kb.settings.kb_search_mode)
    return SearchResponse(results=[_result(kb.settings, h) for h in hits])


async def related_to_ticket(conn: Conn, kb: Kb, *, principal: Principal, ticket_ref: str,
                            k: int = 5) -> RelatedArticles:
    """Articles the caller may see closest to a ticket the caller may see (its title and description)."""
    ticket = await tickets.get_or_raise(conn, principal=principal, ref=ticket_ref)
    text = f"{ticket.title}\n{ticket.description}"[:2000]
    hits = await kb_index.search(conn, query=text, embedder=kb.embedder, k=k, audiences=audiences(principal),
                                 mode=kb.settings.kb_search_mode)
    return RelatedArticles(ticket_id=ticket.id, results=[_result(kb.settings, h) for h in hits])


async def answer(conn: Conn, kb: Kb, *, principal: Principal, question: str,
                 intent: str | None = None) -> AnswerResponse:
    """Searches (boosting the articles of ``intent``'s categories and tags, if the map knows it), answers (LLM,
    extractive or none) and stores the answer for feedback and trends. The question is embedded once."""
    s = kb.settings
    boost = kb.intents.get(intent) if intent else None
    with metrics.kb_search("answer"):  # the embedding and the search, not the answer's passages and phrasing
        vector = await kb.embedder.aembed_query(question)
        hits = await kb_index.search(conn, query=question, vector=vector, model=kb.embedder.model_id,
                                     k=s.kb_answer_sources, audiences=audiences(principal), boost=boost,
                                     mode=s.kb_search_mode)
    top = hits[0] if hits else None
    intent_match = bool(top and boost and boost.matches(top.category, top.tags))
    hits = await kb_index.with_passages(conn, hits, question=question, vector=vector)
    result = await kb_index.answer(question, hits, llm=kb.llm, min_similarity=s.kb_min_similarity,
                                   confident_similarity=s.kb_confident_similarity, allowed_hosts=own_hosts(s))
    row = await (await conn.execute(Q.insert_answer, {
        "user_id": principal.id, "question": question, "embedding": vector, "mode": result.mode,
        "confident": result.confident, "best_similarity": result.best_similarity,
        "article_ids": [c.article_id for c in result.citations], "answer": result.text,
    })).fetchone()
    assert row is not None
    citations = [Citation(n=c.n, title=c.title, url=article_url(s, c.article_id, c.url), article_id=c.article_id)
                 for c in result.citations]
    return AnswerResponse(answer=result.text, citations=citations, confident=result.confident, mode=result.mode,
                          answer_id=row["id"], top_score=top.similarity if top else None, intent_match=intent_match)


async def answer_feedback(conn: Conn, *, principal: Principal, answer_id: int, helpful: bool) -> None:
    """The asker rates an answer; each cited article gets (or changes) one vote."""
    async with conn.transaction():
        row = await (await conn.execute(Q.lock_answer, {"id": answer_id})).fetchone()
        if row is None or (row["user_id"] != principal.id and principal.role is not Role.admin):
            raise NotFound(f"No answer {answer_id} of yours.")
        await conn.execute(Q.set_answer_feedback, {"id": answer_id, "helpful": helpful})
        await conn.execute(Q.upsert_answer_article_feedback, {
            "answer_id": answer_id, "user_id": principal.id, "helpful": helpful, "article_ids": row["article_ids"]})


async def _visible(conn: Conn, principal: Principal, article_id: str) -> dict[str, Any]:
    row = await (await conn.execute(Q.get_article, {"id": article_id})).fetchone()
    if row is None or not can_see(principal, row):
        raise NotFound(f"No article {article_id!r} that you can see.")
    return row


async def track_view(conn: Conn, *, principal: Principal, article_id: str) -> None:
    await _visible(conn, principal, article_id)
    await kb_index.count_view(conn, article_id=article_id)


async def track_helpful(conn: Conn, *, principal: Principal, article_id: str, helpful: bool) -> None:
    await _visible(conn, principal, article_id)
    await conn.execute(Q.upsert_article_feedback, {"article_id": article_id, "user_id": principal.id,
                                                   "helpful": helpful})


def _article(settings: Settings, row: dict[str, Any]) -> Article:
    return Article(**(row | {"url": article_url(settings, row["id"], row["url"])}))


async def get_article(conn: Conn, kb: Kb, *, principal: Principal, article_id: str) -> Article:
    return _article(kb.settings, await _visible(conn, principal, article_id))


async def list_articles(conn: Conn, kb: Kb, *, principal: Principal, category: str | None = None,
                        status: str | None = None, limit: int = 200) -> list[ArticleSummary]:
    statuses = ["published", "draft"] if principal.role is Role.admin else ["published"]
    if status is not None:
        statuses = [s for s in statuses if s == status]
    rows = await (await conn.execute(Q.list_articles, {"audiences": list(audiences(principal)),
                                                       "statuses": statuses, "category": category,
                                                       "limit": limit})).fetchall()
    return [ArticleSummary(**_article(kb.settings, r).model_dump()) for r in rows]


def to_article(data: ArticleWrite, *, article_id: str) -> kb_index.Article:
    """The index's article from API input; an HTML body becomes Markdown-like text."""
    body = kb_index.html_to_text(data.body) if data.format == "html" else data.body
    if not body.strip():
        raise ValidationFailed("The article body has no text.")
    return kb_index.Article(id=article_id, title=data.title, body=body, category=data.category,
                            tags=tuple(dict.fromkeys(data.tags)), url=data.url, audience=data.audience,
                            status=data.status, format="markdown" if data.format == "html" else data.format)


async def create_article(conn: Conn, kb: Kb, *, principal: Principal, data: ArticleCreate,
                         idempotency_key: str | None = None) -> tuple[Article, bool]:
    """Creates and indexes an article; returns it and whether it is new (False: idempotent replay)."""
    article = to_article(data, article_id=data.id or kb_index.slugify(data.title))
    prepared = (await kb_index.prepare(kb.embedder, [article]))[0]
    async with conn.transaction():
        if idempotency_key:
            earlier = await idempotency.claim(conn, user_id=principal.id, scope=CREATE_SCOPE, key=idempotency_key,
                                              payload=data.model_dump(mode="json"))
            if earlier is not None:
                row = await (await conn.execute(Q.article_by_seq, {"seq": earlier})).fetchone()
                if row is None:
                    raise Conflict("The article this Idempotency-Key created has been deleted since.")
                return _article(kb.settings, row), False
        if await (await conn.execute(Q.article_exists, {"id": article.id})).fetchone():
            raise Conflict(f"An article with id {article.id!r} already exists; choose another id or PUT to it.")
        try:
            await kb_index.write(conn, prepared, created_by=principal.id)
        except UniqueViolation as exc:
            raise Conflict(f"An article with id {article.id!r} already exists.") from exc
        row = await (await conn.execute(Q.get_article, {"id": article.id})).fetchone()
        assert row is not None
        if idempotency_key:
            await idempotency.record(conn, user_id=principal.id, scope=CREATE_SCOPE, key=idempotency_key,
                                     resource_id=row["seq"])
    return _article(kb.settings, row), True


async def update_article(conn: Conn, kb: Kb, *, article_id: str, data: ArticleWrite) -> Article:
    """Replaces an article's fields and, atomically, its chunks."""
    article = to_article(data, article_id=article_id)
    prepared = (await kb_index.prepare(kb.embedder, [article]))[0]
    async with conn.transaction():
        if await (await conn.execute(Q.lock_article, {"id": article_id})).fetchone() is None:
            raise NotFound(f"No article {article_id!r}.")
        await kb_index.write(conn, prepared)
        row = await (await conn.execute(Q.get_article, {"id": article_id})).fetchone()
    assert row is not None
    return _article(kb.settings, row)


async def delete_article(conn: Conn, *, article_id: str) -> None:
    if not await kb_index.delete(conn, article_id=article_id):
        raise NotFound(f"No article {article_id!r}.")

