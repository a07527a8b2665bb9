"""The admin pages of the knowledge base over a signed-in session: roles and CSRF, the articles with their views and
votes, the article form (checked by the API's model, the input kept on a refusal), and the trends' suggestions
approved into a draft article."""

from __future__ import annotations

import re
import uuid

import httpx
import psycopg
from admin2_support import signed_in
from fastapi import FastAPI

from api.auth import service as people
from api.auth.models import Role
from api.kb import service
from api.kb.service import Kb
from api.settings import Settings

KB = "/console/admin/kb"
BEEHIVE_QUESTIONS = ["how do i book a visit to the rooftop beehive {tag}",
                     "rooftop beehive visit booking {tag}",
                     "can our team visit the beehive on the roof {tag}"]


def _kb(web_asgi: tuple[FastAPI, object]) -> Kb:
    state = web_asgi[0].state
    return Kb(embedder=state.kb_embedder, llm=None, settings=state.settings, intents=state.kb_intents)


def _row(page: httpx.Response, article_id: str) -> str:
    found = re.search(rf'<tr data-article="{re.escape(article_id)}">(.*?)</tr>', page.text, re.S)
    assert found, f"no row of {article_id}"
    return found.group(1)


async def test_employees_are_refused_agents_read_and_a_post_needs_csrf(
        web: httpx.AsyncClient, conn: psycopg.AsyncConnection, web_settings: Settings, make_actor,
        web_asgi: tuple[FastAPI, object]) -> None:
    await signed_in(web, conn, web_settings, make_actor, Role.employee)
    for url in (KB, f"{KB}/trends", f"{KB}/new"):
        assert (await web.get(url)).status_code == 403, url
    agent = await signed_in(web, conn, web_settings, make_actor, Role.agent)
    listed = await web.get(KB)
    assert listed.status_code == 200 and "New article" not in listed.text
    assert (await web.get(f"{KB}/new")).status_code == 403
    refused = await web.post(KB, data={"csrf_token": agent.csrf, "title": "Agents may not write", "body": "No."})
    assert refused.status_code == 403

    admin = await signed_in(web, conn, web_settings, make_actor)
    title = f"No token {uuid.uuid4().hex[:6]}"
    assert (await web.post(KB, data={"title": title, "body": "Refused."})).status_code == 403
    kb = [a.title for a in await service.list_articles(conn, _kb(web_asgi), principal=admin.principal)]
    assert title not in kb


async def test_an_article_made_through_the_form_is_listed_with_its_views_and_votes(
        web: httpx.AsyncClient, conn: psycopg.AsyncConnection, web_settings: Settings, make_actor,
        web_asgi: tuple[FastAPI, object]) -> None:
    admin = await signed_in(web, conn, web_settings, make_actor)
    slug = f"badge-printer-{uuid.uuid4().hex[:6]}"
    made = await web.post(KB, data={
        "csrf_token": admin.csrf, "id": slug, "title": "The badge printer jams", "format": "markdown",
        "body": "Open the side flap and pull the card out gently.", "category": "Hardware",
        "tags": "printer, Badges", "url": "", "audience": "employee", "status": "published"})
    assert made.status_code == 303 and made.headers["location"] == f"{KB}?done=created"
    kb = _kb(web_asgi)
    article = await service.get_article(conn, kb, principal=admin.principal, article_id=slug)
    assert (article.title, article.category, article.tags) == ("The badge printer jams", "hardware",
                                                               ["printer", "badges"])

    reader = await make_actor(Role.employee)
    who = await people.principal_by_id(conn, user_id=reader.user.id)
    await service.track_view(conn, principal=who, article_id=slug)
    await service.track_view(conn, principal=who, article_id=slug)
    await service.track_helpful(conn, principal=who, article_id=slug, helpful=False)
    row = _row(await web.get(KB), slug)
    assert '<td class="views">2</td>' in row and '<td class="helpful">0</td>' in row
    assert '<td class="not-helpful">1</td>' in row

    edit = await web.get(f"{KB}/articles/{slug}")
    assert edit.status_code == 200 and "Open the side flap" in edit.text and 'value="printer, badges"' in edit.text
    saved = await web.post(f"{KB}/articles/{slug}", data={
        "csrf_token": admin.csrf, "title": "The badge printer jams", "body": "Call facilities on 4411.",
        "format": "text", "category": "", "tags": "", "url": "", "audience": "agent", "status": "draft"})
    assert saved.status_code == 303
    changed = await service.get_article(conn, kb, principal=admin.principal, article_id=slug)
    assert (changed.body, changed.audience, changed.status, changed.category) == (
        "Call facilities on 4411.", "agent", "draft", None)
    drafts = await web.get(KB, params={"status": "draft"})
    assert f'data-article="{slug}"' in drafts.text

    gone = await web.post(f"{KB}/articles/{slug}/delete", data={"csrf_token": admin.csrf})
    assert gone.status_code == 303
    assert slug not in [a.id for a in await service.list_articles(conn, kb, principal=admin.principal)]



async def test_bad_input_shows_the_models_message_and_keeps_the_input(
        web: httpx.AsyncClient, conn: psycopg.AsyncConnection, web_settings: Settings, make_actor,
        web_asgi: tuple[FastAPI, object]) -> None:
    admin = await signed_in(web, conn, web_settings, make_actor)
    bad = await web.post(KB, data={"csrf_token": admin.csrf, "id": "Not A Slug!", "title": "  ", "format": "markdown",
                                   "body": "Keep this text, please.", "category": "", "tags": "", "url": "",
                                   "audience": "everyone", "status": "published"})
    assert bad.status_code == 422
    assert 'id="id-error"' in bad.text and 'id="title-error"' in bad.text and 'id="audience-error"' in bad.text
    assert "String should match pattern" in bad.text and "Keep this text, please." in bad.text
    assert 'value="Not A Slug!"' in bad.text
    html_only = await web.post(KB, data={"csrf_token": admin.csrf, "title": "Only markup", "body": "<p></p>",
                                         "format": "html", "audience": "employee", "status": "published"})
    assert html_only.status_code == 422 and "The article body has no text." in html_only.text
    assert not [a for a in await service.list_articles(conn, _kb(web_asgi), principal=admin.principal)
                if a.title == "Only markup"]


async def test_a_trend_refreshed_into_a_suggestion_is_approved_into_a_draft_article(
        web: httpx.AsyncClient, conn: psycopg.AsyncConnection, web_settings: Settings, make_actor,
        web_asgi: tuple[FastAPI, object]) -> None:
    kb, tag = _kb(web_asgi), uuid.uuid4().hex[:6]
    async with web_asgi[0].state.pool.connection() as vectors:  # the app's connections know pgvector's type
        for question in BEEHIVE_QUESTIONS:  # different people ask what no article answers
            asker = await people.principal_by_id(conn, user_id=(await make_actor()).user.id)
            answer = await service.answer(vectors, kb, principal=asker, question=question.format(tag=tag))
            assert not answer.confident
    admin = await signed_in(web, conn, web_settings, make_actor)
    page = await web.get(f"{KB}/trends", params={"days": 1})
    assert page.status_code == 200 and BEEHIVE_QUESTIONS[0].format(tag=tag) in page.text

    refreshed = await web.post(f"{KB}/trends/refresh", data={"csrf_token": admin.csrf, "days": "1"})
    assert refreshed.status_code == 303 and refreshed.headers["location"] == f"{KB}/trends?days=1&done=refreshed"
    page = await web.get(f"{KB}/trends", params={"days": 1})
    clusters = page.text.split('<li data-suggestion="')[1:]
    [mine] = [c for c in clusters if BEEHIVE_QUESTIONS[1].format(tag=tag) in c]
    suggestion = int(mine.split('"')[0])  # empty (no suggestion) before the refresh

    approved = await web.post(f"{KB}/suggestions/{suggestion}/approve", data={"csrf_token": admin.csrf})
    assert approved.status_code == 303 and approved.headers["location"].endswith("?done=approved")
    draft_id = approved.headers["location"].split("/articles/")[1].split("?")[0]
    draft = await service.get_article(conn, kb, principal=admin.principal, article_id=draft_id)
    assert draft.status == "draft" and "beehive" in draft.body
    edit = await web.get(approved.headers["location"])
    assert edit.status_code == 200 and "Suggestion approved" in edit.text
    again = await web.post(f"{KB}/suggestions/{suggestion}/approve", data={"csrf_token": admin.csrf})
    assert again.status_code == 409 and "already approved" in again.text
    await service.delete_article(conn, article_id=draft_id)
