"""Knowledge-base endpoints: thin handlers over api.kb.service and api.kb.trends."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response, status

from api.auth.deps import AdminUser, CurrentUser, StaffUser, VisitorOrUser
from api.db import ConnDep
from api.deps import IdempotencyKey
from api.kb import service, trends
from api.kb.models import (
    AnswerRequest,
    AnswerResponse,
    Article,
    ArticleCreate,
    ArticleSummary,
    ArticleWrite,
    Feedback,
    RelatedArticles,
    SearchRequest,
    SearchResponse,
    Suggestion,
    Trends,
)
from api.kb.service import Kb

router = APIRouter(prefix="/kb", tags=["knowledge"])
Days = Annotated[int, Query(ge=1, le=365)]
MinSize = Annotated[int, Query(ge=1, le=100, description="smallest cluster shown; at least 2 for non-admins")]


def get_kb(request: Request) -> Kb:
    state = request.app.state
    return Kb(embedder=state.kb_embedder, llm=state.llm, settings=state.settings, intents=state.kb_intents)


KbDep = Annotated[Kb, Depends(get_kb)]


@router.post("/search")
async def search(data: SearchRequest, conn: ConnDep, kb: KbDep, principal: CurrentUser) -> SearchResponse:
    """Hybrid search: one result per article with the best chunk's snippet and heading path."""
    return await service.search(conn, kb, principal=principal, data=data)


@router.post("/answer")
async def answer(data: AnswerRequest, conn: ConnDep, kb: KbDep, principal: VisitorOrUser) -> AnswerResponse:
    """An answer with citations; mode 'none' (empty answer) when the KB has nothing good enough. An ``intent``
    boosts (never filters) the articles of its categories and tags; ``top_score`` and ``intent_match`` say how
    good the best hit was and whether it belongs to that intent."""
    return await service.answer(conn, kb, principal=principal, question=data.question, intent=data.intent)


@router.post("/answers/{answer_id}/feedback", status_code=status.HTTP_204_NO_CONTENT)
async def answer_feedback(answer_id: int, data: Feedback, conn: ConnDep, principal: CurrentUser) -> None:
    await service.answer_feedback(conn, principal=principal, answer_id=answer_id, helpful=data.helpful)


@router.get("/articles")
async def list_articles(
    conn: ConnDep, kb: KbDep, principal: CurrentUser,
    category: Annotated[str | None, Query(max_length=64)] = None,
    status_: Annotated[Literal["draft", "published"] | None, Query(alias="status")] = None,
) -> list[ArticleSummary]:
    return await service.list_articles(conn, kb, principal=principal, category=category, status=status_)


@router.get("/articles/{article_id}")
async def get_article(article_id: str, conn: ConnDep, kb: KbDep, principal: CurrentUser) -> Article:
    return await service.get_article(conn, kb, principal=principal, article_id=article_id)


@router.post("/articles", status_code=status.HTTP_201_CREATED)
async def create_article(
    data: ArticleCreate, conn: ConnDep, kb: KbDep, principal: AdminUser, response: Response,
    idempotency_key: IdempotencyKey = None,
) -> Article:
    article, created = await service.create_article(conn, kb, principal=principal, data=data,
                                                    idempotency_key=idempotency_key)
    response.headers["Location"] = f"/api/v1/kb/articles/{article.id}"
    if not created:
        response.headers["Idempotent-Replayed"] = "true"
    return article


@router.put("/articles/{article_id}")
async def update_article(article_id: str, data: ArticleWrite, conn: ConnDep, kb: KbDep, _: AdminUser) -> Article:
    return await service.update_article(conn, kb, article_id=article_id, data=data)


@router.delete("/articles/{article_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_article(article_id: str, conn: ConnDep, _: AdminUser) -> None:
    await service.delete_article(conn, article_id=article_id)


@router.post("/articles/{article_id}/track-view", status_code=status.HTTP_204_NO_CONTENT)
async def track_view(article_id: str, conn: ConnDep, principal: CurrentUser) -> None:
    await service.track_view(conn, principal=principal, article_id=article_id)


@router.post("/articles/{article_id}/track-helpful", status_code=status.HTTP_204_NO_CONTENT)
async def track_helpful(article_id: str, data: Feedback, conn: ConnDep, principal: CurrentUser) -> None:
    await service.track_helpful(conn, principal=principal, article_id=article_id, helpful=data.helpful)


@router.get("/trends")
async def get_trends(
    conn: ConnDep, kb: KbDep, principal: StaffUser, days: Days = 30, min_size: MinSize = 2,
) -> Trends:
    """Unanswered questions and uncovered tickets clustered by meaning, as far as the caller may see them.

    Read-only: clusters are matched to the open suggestions the last refresh stored (``suggestion_id``
    is null for a cluster no suggestion covers yet). Agents see their teams' tickets and employees'
    questions only in clusters asked by several people; ``min_size`` is at least 2 for them.
    """
    return await trends.view(conn, kb, principal=principal, days=days, min_size=min_size)


@router.post("/trends/suggestions")
async def refresh_suggestions(
    conn: ConnDep, kb: KbDep, principal: StaffUser, days: Days = 30, min_size: MinSize = 2,
) -> Trends:
    """Refreshes the open suggestions from all recent questions and tickets; answers the caller's view."""
    return await trends.refresh(conn, kb, principal=principal, days=days, min_size=min_size)


@router.get("/suggestions/{ticket_ref}")
async def related_articles(ticket_ref: str, conn: ConnDep, kb: KbDep, principal: CurrentUser) -> RelatedArticles:
    """Articles related to a ticket the caller can see (by its title and description)."""
    return await service.related_to_ticket(conn, kb, principal=principal, ticket_ref=ticket_ref)


@router.post("/suggestions/{suggestion_id}/approve")
async def approve_suggestion(suggestion_id: int, conn: ConnDep, kb: KbDep, principal: StaffUser) -> Suggestion:
    """Creates a draft article from an open suggestion."""
    return await trends.approve(conn, kb, principal=principal, suggestion_id=suggestion_id)


@router.post("/suggestions/{suggestion_id}/dismiss")
async def dismiss_suggestion(suggestion_id: int, conn: ConnDep, kb: KbDep, principal: StaffUser) -> Suggestion:
    return await trends.dismiss(conn, kb, principal=principal, suggestion_id=suggestion_id)
