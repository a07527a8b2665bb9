"""KB trends: what people ask that the knowledge base does not answer, grouped into suggested articles.

Inputs, over the last ``days``: questions answered without confidence (kb_answers) and tickets
(title + description). Both are checked against the current index: one whose nearest published
chunk is at least ``kb_confident_similarity`` close is considered covered and dropped, so writing
the article makes its cluster disappear. Ticket texts are embedded once and cached
(kb_ticket_vectors, re-embedded when the text changes). The rest is clustered by meaning; each
cluster is kept as an open suggestion (matched to the previous refresh by shared members, so its id
is stable) that staff approve (-> a draft article) or dismiss; decided members are not shown again.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import numpy as np

import kb_index
from api import sql
from api.auth.models import Principal
from api.db import Conn
from api.errors import Conflict, NotFound
from api.kb.models import Suggestion, TrendCluster, Trends
from api.kb.service import Kb

Q = sql.load("api.kb")
MAX_ITEMS = 500
EXAMPLES = 5


def _hash(title: str, description: str) -> str:
    return hashlib.sha256(f"{title}\n{description}".encode()).hexdigest()


async def _ticket_items(conn: Conn, kb: Kb, *, days: int) -> list[dict[str, Any]]:
    rows = await (await conn.execute(Q.recent_tickets, {"days": days, "limit": MAX_ITEMS})).fetchall()
    stale = [r for r in rows if r["text_hash"] != _hash(r["title"], r["description"])]
    if stale:
        vectors = await kb.embedder.aembed([f"{r['title']}\n{r['description']}"[:2000] for r in stale])
        async with conn.transaction():
            for r, v in zip(stale, vectors, strict=True):
                await conn.execute(Q.upsert_ticket_vector, {"ticket_id": r["id"], "embedding": v,
                                                            "text_hash": _hash(r["title"], r["description"])})
    good = kb.settings.kb_confident_similarity
    return list(await (await conn.execute(Q.unmatched_tickets, {"ids": [r["id"] for r in rows], "good": good}))
                .fetchall())


async def trends(conn: Conn, kb: Kb, *, days: int = 30, min_size: int = 2, threshold: float = 0.4) -> Trends:
    """Clusters of unanswered questions and uncovered tickets, largest first, each an open suggestion."""
    good = kb.settings.kb_confident_similarity
    questions = list(await (await conn.execute(Q.weak_questions, {"days": days, "good": good, "limit": MAX_ITEMS}))
                     .fetchall())
    tickets = await _ticket_items(conn, kb, days=days)
    items = [("a", r) for r in questions] + [("t", r) for r in tickets]
    vectors = np.array([r["embedding"].to_numpy() for _, r in items], dtype=np.float32).reshape(
        len(items), kb_index.DIMENSIONS)
    clusters = kb_index.cluster_texts([r["text"] for _, r in items], vectors, threshold=threshold,
                                      min_size=min_size)
    out = []
    async with conn.transaction():
        await conn.execute(Q.trends_lock)
        open_rows = await (await conn.execute(Q.open_suggestions)).fetchall()
        used: set[int] = set()
        for c in clusters:
            members = [items[i] for i in c.members]
            fields: dict[str, Any] = {
                "title": c.title, "size": len(members),
                "questions": [r["text"] for _, r in members[:EXAMPLES]],
                "answer_ids": [r["id"] for kind, r in members if kind == "a"],
                "ticket_ids": [r["id"] for kind, r in members if kind == "t"],
            }
            sid = _match(open_rows, used, fields)
            if sid is None:
                sid = (await (await conn.execute(Q.insert_suggestion, fields)).fetchone() or {})["id"]
            else:
                await conn.execute(Q.update_suggestion, fields | {"id": sid})
            used.add(sid)
            out.append(TrendCluster(suggestion_id=sid, size=fields["size"], suggested_title=c.title,
                                    keywords=list(c.keywords), questions=fields["questions"],
                                    answer_ids=fields["answer_ids"], ticket_ids=fields["ticket_ids"]))
        await conn.execute(Q.delete_open_suggestions, {"ids": [r["id"] for r in open_rows if r["id"] not in used]})
    return Trends(generated_at=datetime.now(UTC), days=days, questions_considered=len(questions),
                  tickets_considered=len(tickets), clusters=out)


def _match(open_rows: list[dict[str, Any]], used: set[int], fields: dict[str, Any]) -> int | None:
    """The open suggestion sharing most members with a new cluster (ids stay stable across refreshes)."""
    def overlap(r: dict[str, Any]) -> int:
        return len(set(r["answer_ids"]) & set(fields["answer_ids"])) + len(set(r["ticket_ids"]) & set(fields["ticket_ids"]))

    candidates = [(overlap(r), r["id"]) for r in open_rows if r["id"] not in used]
    best = max(candidates, default=(0, None))
    return best[1] if best[0] > 0 else None


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


async def approve(conn: Conn, kb: Kb, *, principal: Principal, suggestion_id: int) -> Suggestion:
    """Turns an open suggestion into a draft article (indexed, visible to admins only)."""
    row = await (await conn.execute(Q.get_suggestion, {"id": suggestion_id})).fetchone()
    if row is None:
        raise NotFound(f"No suggestion {suggestion_id}.")
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
    return Suggestion(**done)  # type: ignore[arg-type]


async def dismiss(conn: Conn, *, principal: Principal, suggestion_id: int) -> Suggestion:
    async with conn.transaction():
        locked = await (await conn.execute(Q.lock_suggestion, {"id": suggestion_id})).fetchone()
        if locked is None:
            raise NotFound(f"No suggestion {suggestion_id}.")
        if locked["status"] != "open":
            raise Conflict(f"Suggestion {suggestion_id} is already {locked['status']}.")
        done = await (await conn.execute(Q.decide_suggestion, {"id": suggestion_id, "status": "dismissed",
                                                               "article_id": None, "user_id": principal.id}))\
            .fetchone()
    return Suggestion(**done)  # type: ignore[arg-type]
