"""KB trends: what people ask that the knowledge base does not answer, grouped into suggested articles.

Inputs, over the last ``days``: questions answered without confidence (kb_answers) and tickets
(title + description). Both are checked against the current index: one whose nearest published
chunk is at least ``kb_confident_similarity`` close is considered covered and dropped, so writing
the article makes its cluster disappear. The rest is clustered by meaning.

Two steps, so that looking never writes:
- ``refresh`` (``POST /kb/trends/suggestions``, or a job) embeds new or changed tickets once (cached
  in kb_ticket_vectors) and keeps every cluster of all recent questions and tickets as an open
  suggestion (matched to the previous refresh by shared members, so its id is stable) that staff
  approve (-> a draft article) or dismiss; decided members are not shown again.
- ``view`` (``GET /kb/trends``) clusters what the caller may see, reading only, and names the open
  suggestion each cluster matches (none until a refresh made one).

Who sees what: admins everything. Everyone else (agents) sees a ticket only when the ticket
service's visibility rule (``tickets.can_see``) lets them see it, and employees' questions only
inside a cluster whose questions come from at least ``kb_trends_min_size`` different people —
never one person's question; clusters smaller than ``kb_trends_min_size`` are not shown to them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

import kb_index
from api import sql
from api.auth.models import Principal, Role
from api.db import Conn
from api.errors import Conflict, NotFound
from api.kb import similar
from api.kb.models import Suggestion, TrendCluster, Trends
from api.kb.service import Kb
from api.tickets import service as tickets

Q = sql.load("api.kb")
MAX_ITEMS = 500
EXAMPLES = 5
Item = tuple[str, dict[str, Any]]  # ("a", a question row) or ("t", a ticket row)


@dataclass(frozen=True)
class Scope:
    """What one caller may see of the trends."""

    principal: Principal
    min_size: int  # kb_trends_min_size

    @property
    def everything(self) -> bool:
        return self.principal.role is Role.admin

    def sees_ticket(self, row: dict[str, Any]) -> bool:
        return self.everything or tickets.can_see(self.principal, row)

    def sees_questions(self, rows: list[dict[str, Any]]) -> bool:
        """Questions are shown together only, when enough different people asked them."""
        return self.everything or len({r["user_id"] for r in rows}) >= self.min_size

    def cluster_size(self, requested: int) -> int:
        return requested if self.everything else max(requested, self.min_size)


def _scope(kb: Kb, principal: Principal) -> Scope:
    return Scope(principal, kb.settings.kb_trends_min_size)


async def _embed_tickets(conn: Conn, kb: Kb, *, days: int) -> None:
    """Embeds the recent tickets whose text is new or changed since it was last embedded."""
    rows = await (await conn.execute(Q.recent_tickets, {"days": days, "limit": MAX_ITEMS})).fetchall()
    await similar.store_vectors(conn, kb, [r for r in rows if r["text_hash"] != similar.text_hash(
        r["title"], r["description"])])


async def _items(conn: Conn, kb: Kb, *, days: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The recent weak questions and uncovered (already embedded) tickets."""
    params = {"days": days, "good": kb.settings.kb_confident_similarity, "limit": MAX_ITEMS}
    questions = list(await (await conn.execute(Q.weak_questions, params)).fetchall())
    uncovered = list(await (await conn.execute(Q.uncovered_tickets, params)).fetchall())
    return questions, uncovered


def _clusters(items: list[Item], *, min_size: int, threshold: float) -> list[kb_index.Cluster]:
    vectors = np.array([r["embedding"].to_numpy() for _, r in items], dtype=np.float32).reshape(
        len(items), kb_index.DIMENSIONS)
    return kb_index.cluster_texts([r["text"] for _, r in items], vectors, threshold=threshold, min_size=min_size)


def _fields(title: str, members: list[Item]) -> dict[str, Any]:
    return {"title": title, "size": len(members), "questions": [r["text"] for _, r in members[:EXAMPLES]],
            "answer_ids": [r["id"] for kind, r in members if kind == "a"],
            "ticket_ids": [r["id"] for kind, r in members if kind == "t"]}


async def refresh(conn: Conn, kb: Kb, *, principal: Principal, days: int = 30, min_size: int = 2,
                  threshold: float = 0.4) -> Trends:
    """Stores the clusters of all recent questions and tickets as open suggestions; returns the caller's view."""
    size = _scope(kb, principal).cluster_size(min_size)
    await _embed_tickets(conn, kb, days=days)
    questions, uncovered = await _items(conn, kb, days=days)
    items: list[Item] = [("a", r) for r in questions] + [("t", r) for r in uncovered]
    clusters = _clusters(items, min_size=size, threshold=threshold)
    async with conn.transaction():
        await conn.execute(Q.trends_lock)
        open_rows = await (await conn.execute(Q.open_suggestions)).fetchall()
        used: set[int] = set()
        for c in clusters:
            fields = _fields(c.title, [items[i] for i in c.members])
            sid = _match(open_rows, used, fields)
            if sid is None:
                sid = (await (await conn.execute(Q.insert_suggestion, fields)).fetchone() or {})["id"]
            else:
                await conn.execute(Q.update_suggestion, fields | {"id": sid})
            used.add(sid)
        await conn.execute(Q.delete_open_suggestions, {"ids": [r["id"] for r in open_rows if r["id"] not in used]})
    return await view(conn, kb, principal=principal, days=days, min_size=min_size, threshold=threshold)


def _shown(scope: Scope, members: list[Item]) -> list[Item]:
    """A cluster's members as the scope shows them: its questions only when enough people asked them."""
    asked = [r for kind, r in members if kind == "a"]
    return members if scope.sees_questions(asked) else [(kind, r) for kind, r in members if kind != "a"]


async def view(conn: Conn, kb: Kb, *, principal: Principal, days: int = 30, min_size: int = 2,
               threshold: float = 0.4) -> Trends:
    """The clusters the caller may see, largest first, each with its open suggestion if any. Reads only."""
    scope = _scope(kb, principal)
    size = scope.cluster_size(min_size)
    questions, uncovered = await _items(conn, kb, days=days)
    visible = [r for r in uncovered if scope.sees_ticket(r)]
    items: list[Item] = [("a", r) for r in questions] + [("t", r) for r in visible]
    open_rows = await (await conn.execute(Q.open_suggestions)).fetchall()
    used: set[int] = set()
    out = []
    for c in _clusters(items, min_size=size, threshold=threshold):
        members = _shown(scope, [items[i] for i in c.members])
        if len(members) < size:
            continue
        whole = len(members) == len(c.members)
        texts = [r["text"] for _, r in members]
        title = c.title if whole else kb_index.suggest_title(texts[0])
        fields = _fields(title, members)
        sid = _match(open_rows, used, fields)
        if sid is not None:
            used.add(sid)
        out.append(TrendCluster(suggestion_id=sid, size=fields["size"], suggested_title=title,
                                keywords=list(c.keywords if whole else kb_index.keywords(texts)),
                                questions=fields["questions"], answer_ids=fields["answer_ids"],
                                ticket_ids=fields["ticket_ids"]))
    out.sort(key=lambda c: -c.size)
    return Trends(generated_at=datetime.now(UTC), days=days, questions_considered=len(questions),
                  tickets_considered=len(visible), clusters=out)


def _match(open_rows: list[dict[str, Any]], used: set[int], fields: dict[str, Any]) -> int | None:
    """The open suggestion sharing most members with a new cluster (ids stay stable across refreshes)."""
    def overlap(r: dict[str, Any]) -> int:
        return len(set(r["answer_ids"]) & set(fields["answer_ids"])) + len(set(r["ticket_ids"]) & set(fields["ticket_ids"]))

    candidates = [(overlap(r), r["id"]) for r in open_rows if r["id"] not in used]
    best = max(candidates, default=(0, None))
    return best[1] if best[0] > 0 else None


async def _scoped(conn: Conn, scope: Scope, row: dict[str, Any]) -> Suggestion:
    """A suggestion as the scope shows it (NotFound when it shows nothing of it)."""
    if scope.everything:
        return Suggestion(**row)
    asked = list(await (await conn.execute(Q.suggestion_questions, {"ids": row["answer_ids"]})).fetchall())
    seen = [r for r in await (await conn.execute(Q.suggestion_tickets, {"ids": row["ticket_ids"]})).fetchall()
            if scope.sees_ticket(r)]
    shown = _shown(scope, [("a", r) for r in asked] + [("t", r) for r in seen])
    if not shown:
        raise NotFound(f"No suggestion {row['id']} that you can see.")
    texts = {r["text"] for _, r in shown}
    return Suggestion(**row | {"questions": [q for q in row["questions"] if q in texts], "size": len(shown),
                               "answer_ids": [r["id"] for kind, r in shown if kind == "a"],
                               "ticket_ids": [r["id"] for kind, r in shown if kind == "t"]})


def draft_body(title: str, questions: list[str]) -> str:
    asked = "\n".join(f"- {q}" for q in questions)
    return (f"# {title}\n\n## What people asked\n\n{asked}\n\n## Answer\n\n"
            "Draft from KB trends: write the answer here, then publish the article.\n")


async def _free_id(conn: Conn, base: str) -> str:
    candidate, n = base, 1
    while await (await conn.execute(Q.article_exists, {"id": candidate})).fetchone():
        n += 1
        candidate = f"{base[:95]}-{n}"
    return candidate


async def _get(conn: Conn, scope: Scope, suggestion_id: int) -> dict[str, Any]:
    row = await (await conn.execute(Q.get_suggestion, {"id": suggestion_id})).fetchone()
    if row is None:
        raise NotFound(f"No suggestion {suggestion_id}.")
    await _scoped(conn, scope, row)  # raises when the caller sees nothing of it
    return row


async def approve(conn: Conn, kb: Kb, *, principal: Principal, suggestion_id: int) -> Suggestion:
    """Turns an open suggestion into a draft article (indexed, visible to admins only)."""
    scope = _scope(kb, principal)
    row = await _get(conn, scope, suggestion_id)
    article_id = await _free_id(conn, kb_index.slugify(row["title"]))
    article = kb_index.Article(id=article_id, title=row["title"], body=draft_body(row["title"], row["questions"]),
                               status="draft")
    prepared = (await kb_index.prepare(kb.embedder, [article]))[0]
    async with conn.transaction():
        locked = await (await conn.execute(Q.lock_suggestion, {"id": suggestion_id})).fetchone()
        if locked is None or locked["status"] != "open":
            raise Conflict(f"Suggestion {suggestion_id} is already {locked['status'] if locked else 'gone'}.")
        await kb_index.write(conn, prepared, created_by=principal.id)
        done = await (await conn.execute(Q.decide_suggestion, {"id": suggestion_id, "status": "approved",
                                                               "article_id": article_id, "user_id": principal.id}))\
            .fetchone()
    assert done is not None
    return await _scoped(conn, scope, done)


async def dismiss(conn: Conn, kb: Kb, *, principal: Principal, suggestion_id: int) -> Suggestion:
    scope = _scope(kb, principal)
    await _get(conn, scope, suggestion_id)
    async with conn.transaction():
        locked = await (await conn.execute(Q.lock_suggestion, {"id": suggestion_id})).fetchone()
        if locked is None:
            raise NotFound(f"No suggestion {suggestion_id}.")
        if locked["status"] != "open":
            raise Conflict(f"Suggestion {suggestion_id} is already {locked['status']}.")
        done = await (await conn.execute(Q.decide_suggestion, {"id": suggestion_id, "status": "dismissed",
                                                               "article_id": None, "user_id": principal.id}))\
            .fetchone()
    assert done is not None
    return await _scoped(conn, scope, done)
