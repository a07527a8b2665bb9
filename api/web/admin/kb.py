"""Admin pages of the knowledge base (``/console/admin/kb``): the articles with their views and helpfulness, the
article form, the trends (what people ask that the KB does not answer) and the draft suggestions made from them.

The same services and models as /api/v1/kb: an article's form is checked by ``ArticleCreate`` / ``ArticleWrite``;
writing articles is for admins, reading the list and the trends and deciding suggestions for agents too (the
trends service shows an agent only what they may see).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel

from api.auth.deps import AdminUser, StaffUser
from api.auth.models import Principal, Role
from api.db import Conn, ConnDep
from api.kb import service, trends
from api.kb.models import Article, ArticleCreate, ArticleWrite
from api.kb.routes import KbDep
from api.kb.service import Kb
from api.web.admin.forms import Refusal, attempt, back_to, render_page
from api.web.pages import render

router = APIRouter(prefix="/console/admin/kb", tags=["web"], include_in_schema=False)
HOME = "/console/admin/kb"
TRENDS = f"{HOME}/trends"
FORMATS = ["markdown", "html", "text"]
DONE = {"created": "Article created.", "updated": "Article saved.", "deleted": "Article deleted.",
        "refreshed": "Suggestions refreshed.", "approved": "Suggestion approved: a draft article was written.",
        "dismissed": "Suggestion dismissed."}
Days = Annotated[int, Query(ge=1, le=365)]


class ArticleFields(BaseModel):
    """The article form as typed (the csrf_token field is ignored): ArticleCreate / ArticleWrite check it afterwards."""

    id: str = ""
    title: str = ""
    body: str = ""
    format: str = "markdown"
    category: str = ""
    tags: str = ""
    url: str = ""
    audience: str = "employee"
    status: str = "published"


def _form_of(article: Article | None) -> dict[str, Any]:
    if article is None:
        return ArticleFields().model_dump()
    return {"id": article.id, "title": article.title, "body": article.body, "format": article.format,
            "category": article.category or "", "tags": ", ".join(article.tags), "url": article.url,
            "audience": article.audience, "status": article.status}


def _data(form: dict[str, Any]) -> dict[str, Any]:
    """The form as the API's request body: empty fields left out, the tags split at commas."""
    data = {k: form[k] for k in ("title", "body", "format", "audience", "status")}
    data |= {k: form[k].strip() for k in ("category", "url") if form[k].strip()}
    return data | {"tags": [t for t in form["tags"].split(",") if t.strip()]}


def _form_page(request: Request, principal: Principal, *, form: dict[str, Any], article_id: str | None = None,
               refusal: Refusal | None = None, done_key: str | None = None) -> Response:
    return render(request, "admin/kb_form.html", {
        "principal": principal, "form": form, "article_id": article_id, "formats": FORMATS,
        "errors": refusal.errors if refusal else {}, "error": refusal.summary if refusal else None,
        "done": DONE.get(done_key or ""),
    }, status_code=refusal.status if refusal else 200)


@router.get("")
async def articles_page(request: Request, conn: ConnDep, kb: KbDep, principal: StaffUser,
                        status: Annotated[str, Query(pattern="^(|draft|published)$")] = "",
                        category: Annotated[str, Query(max_length=64)] = "", done: str | None = None) -> Response:
    """The articles (drafts too, for admins) with their views and helpful / not helpful votes."""
    articles = await service.list_articles(conn, kb, principal=principal, category=category or None,
                                           status=status or None)
    return render(request, "admin/kb.html", {
        "principal": principal, "articles": articles, "status": status, "category": category,
        "may_write": principal.role is Role.admin, "done": DONE.get(done or "")})


@router.get("/new")
async def new_article(request: Request, principal: AdminUser) -> Response:
    return _form_page(request, principal, form=_form_of(None))


@router.post("")
async def create_article(request: Request, conn: ConnDep, kb: KbDep, principal: AdminUser,
                         fields: Annotated[ArticleFields, Form()]) -> Response:
    """Creates and indexes an article through the KB service; a refused form comes back with the input."""
    form = fields.model_dump()
    data = _data(form) | ({"id": fields.id.strip()} if fields.id.strip() else {})
    result = await attempt(lambda: service.create_article(conn, kb, principal=principal,
                                                          data=ArticleCreate.model_validate(data)))
    if isinstance(result, Refusal):
        return _form_page(request, principal, form=form, refusal=result)
    return back_to(HOME, "created")


@router.get("/articles/{article_id}")
async def edit_article(article_id: str, request: Request, conn: ConnDep, kb: KbDep, principal: AdminUser,
                       done: str | None = None) -> Response:
    article = await service.get_article(conn, kb, principal=principal, article_id=article_id)
    return _form_page(request, principal, form=_form_of(article), article_id=article_id, done_key=done)


@router.post("/articles/{article_id}")
async def update_article(article_id: str, request: Request, conn: ConnDep, kb: KbDep, principal: AdminUser,
                         fields: Annotated[ArticleFields, Form()]) -> Response:
    """Replaces the article and its chunks (as PUT /kb/articles/{id})."""
    form = fields.model_dump() | {"id": article_id}
    result = await attempt(lambda: service.update_article(conn, kb, article_id=article_id,
                                                          data=ArticleWrite.model_validate(_data(form))))
    if isinstance(result, Refusal):
        return _form_page(request, principal, form=form, article_id=article_id, refusal=result)
    return back_to(HOME, "updated")


@router.post("/articles/{article_id}/delete")
async def delete_article(article_id: str, conn: ConnDep, _: AdminUser) -> Response:
    await service.delete_article(conn, article_id=article_id)
    return back_to(HOME, "deleted")


async def _trends_page(request: Request, conn: Conn, kb: Kb, principal: Principal, *, days: int,
                       done_key: str | None = None, refusal: Refusal | None = None) -> Response:
    view = await trends.view(conn, kb, principal=principal, days=days)
    return render_page(request, "admin/kb_trends.html", {
        "principal": principal, "trends": view, "days": days, "done": DONE.get(done_key or "")}, refusal=refusal)


@router.get("/trends")
async def trends_page(request: Request, conn: ConnDep, kb: KbDep, principal: StaffUser, days: Days = 30,
                      done: str | None = None) -> Response:
    """Questions the bot could not answer and tickets no article covers, grouped by meaning, with their suggestions."""
    return await _trends_page(request, conn, kb, principal, days=days, done_key=done)


@router.post("/trends/refresh")
async def refresh_suggestions(conn: ConnDep, kb: KbDep, principal: StaffUser, days: Annotated[int, Form()] = 30
                              ) -> Response:
    """Stores the current clusters as open suggestions (as POST /kb/trends/suggestions)."""
    await trends.refresh(conn, kb, principal=principal, days=min(max(days, 1), 365))
    return back_to(f"{TRENDS}?days={min(max(days, 1), 365)}", "refreshed")


@router.post("/suggestions/{suggestion_id:int}/approve")
async def approve_suggestion(suggestion_id: int, request: Request, conn: ConnDep, kb: KbDep,
                             principal: StaffUser) -> Response:
    """A draft article is written from the suggestion (as POST /kb/suggestions/{id}/approve); an admin goes on to
    edit it, an agent back to the trends."""
    made = await attempt(lambda: trends.approve(conn, kb, principal=principal, suggestion_id=suggestion_id))
    if isinstance(made, Refusal):
        return await _trends_page(request, conn, kb, principal, days=30, refusal=made)
    if principal.role is Role.admin and made.article_id:
        return back_to(f"{HOME}/articles/{made.article_id}", "approved")
    return back_to(TRENDS, "approved")


@router.post("/suggestions/{suggestion_id:int}/dismiss")
async def dismiss_suggestion(suggestion_id: int, request: Request, conn: ConnDep, kb: KbDep,
                             principal: StaffUser) -> Response:
    result = await attempt(lambda: trends.dismiss(conn, kb, principal=principal, suggestion_id=suggestion_id))
    if isinstance(result, Refusal):
        return await _trends_page(request, conn, kb, principal, days=30, refusal=result)
    return back_to(TRENDS, "dismissed")
