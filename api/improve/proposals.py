"""Failed turns → clusters → proposals, and the admin's decisions on them.

A pass (``cluster``) takes the failures since the previous pass: chat turns Rasa fell back on, turns the
employee answered by asking for a person, unsure or out-of-scope turns of conversations that ended in a ticket,
and knowledge answers rated "didn't help". It embeds their texts, clusters them with the KB trends' clustering
(``kb_index.cluster_texts``) and gives each cluster one proposal: training examples for an intent, or a KB draft.
A cluster whose centre is close to an open proposal's is merged into it (the proposal keeps what it proposes). Nothing is applied: an admin
edits and approves (examples go into the next candidate model, api/improve/service.py; a KB draft becomes a draft
article) or rejects.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from psycopg.types.json import Jsonb

import kb_index
from api import pagination, sql
from api.auth.models import Principal
from api.chat import nlu_eval
from api.db import Conn
from api.errors import Conflict, NotFound, ValidationFailed
from api.improve import intents
from api.improve.models import Proposal, ProposalEdit, RunSummary, check_example
from api.kb import service as kb
from api.kb import trends
from api.kb.embedding import Embedder
from api.kb.models import ArticleCreate
from api.settings import Settings

Q = sql.load("api.improve")
MAX_FAILURES = 2000
MAX_PROPOSED = 20
# Turns that only steer the conversation: the turn before a hand-off is a failure unless it is one of these.
CONTROL = sorted(nlu_eval.SMALL_TALK | {"human_handoff", "inform", "open_ticket"})
KNN_MIN_SHARE = 0.5
KNN_MIN_SIMILARITY = 0.5
EDITABLE = ("open", "not_promoted")


@dataclass(frozen=True)
class Failure:
    source: str  # "message" or "answer"
    id: int
    text: str
    reason: str  # fallback, handoff, escalation, not_helpful
    ticket_id: int | None = None
    category: str | None = None


async def _failures(conn: Conn, settings: Settings, embedder: Embedder, *, since: datetime,
                    until: datetime) -> tuple[list[Failure], np.ndarray]:
    """The failed turns and rated-unhelpful answers of [since, until) with their unit vectors."""
    window = {"since": since, "until": until, "limit": MAX_FAILURES}
    turns = await (await conn.execute(Q.failed_turns, window | {
        "control": CONTROL, "low": settings.improve_low_confidence})).fetchall()
    answers = await (await conn.execute(Q.unhelpful_answers, window)).fetchall()
    failures = [Failure("message", r["id"], r["text"], r["reason"], r["ticket_id"], r["category"]) for r in turns]
    failures += [Failure("answer", r["id"], r["text"], "not_helpful") for r in answers]
    turn_vectors = await embedder.aembed([r["text"] for r in turns])
    answer_vectors = [_array(r["embedding"]) for r in answers]
    vectors = np.vstack([turn_vectors.reshape(len(turns), kb_index.DIMENSIONS), *[v[None, :] for v in answer_vectors]])
    return failures, vectors.astype(np.float32)


def _array(vector: Any) -> np.ndarray:
    """A pgvector value as a float32 array."""
    return np.asarray(vector.to_numpy() if hasattr(vector, "to_numpy") else vector, dtype=np.float32)


async def _category_intents(conn: Conn, categories: list[str]) -> dict[str, list[str]]:
    rows = await (await conn.execute(Q.intent_of_categories, {"categories": categories})).fetchall()
    found: dict[str, list[str]] = {}
    for r in rows:
        found.setdefault(r["category"], []).append(r["intent"])
    return found


def decide(members: list[Failure], vectors: np.ndarray, index: intents.NluIndex,
           category_intents: dict[str, list[str]]) -> tuple[str, str | None, dict[str, Any]]:
    """What a cluster proposes: (kind, intent, basis).

    Mostly rated-unhelpful answers → a KB draft (the bot understood; the KB lacks the answer). Else the category
    most of its tickets ended in, when that implies an intent (the nearest examples pick among several); else
    the intent the nearest training examples vote for, when the vote is clear; else a KB draft.
    """
    reasons = Counter(m.reason for m in members)
    vote = index.vote(vectors)
    if reasons["not_helpful"] * 2 >= len(members):
        return "kb_draft", None, {"rule": "not_helpful", "not_helpful": reasons["not_helpful"], "knn": vote.as_dict()}
    categories = Counter(m.category for m in members if m.category)
    if categories:
        category, count = categories.most_common(1)[0]
        implied = category_intents.get(category, [])
        if count * 2 >= len(members) and implied:
            intent = max(implied, key=lambda i: vote.votes.get(i, 0.0))
            return "examples", intent, {"rule": "ticket_category", "category": category, "tickets": count,
                                        "intents": implied, "knn": vote.as_dict()}
    if vote.intent and vote.share >= KNN_MIN_SHARE and vote.similarity >= KNN_MIN_SIMILARITY:
        return "examples", vote.intent, vote.as_dict()
    return "kb_draft", None, {"rule": "no_clear_intent", "knn": vote.as_dict()}


def proposed_examples(texts: list[str], index: intents.NluIndex) -> list[str]:
    """The cluster's texts that can be training examples: one line, no markup, not in the training data yet."""
    out: list[str] = []
    for text in texts:
        try:
            example = check_example(text.strip())
        except ValueError:
            continue
        if 2 <= len(example) <= 300 and example.lower() not in index.known and example not in out:
            out.append(example)
    return out[:MAX_PROPOSED]


def _fields(members: list[Failure], vectors: np.ndarray, cluster: kb_index.Cluster, kind: str, intent: str | None,
            basis: dict[str, Any], index: intents.NluIndex) -> dict[str, Any]:
    texts = list(dict.fromkeys(m.text for m in members))
    centroid = vectors.mean(axis=0)
    centroid = centroid / (np.linalg.norm(centroid) or 1.0)
    candidates = proposed_examples(texts, index)
    return {"kind": kind, "intent": intent, "title": cluster.title, "keywords": list(cluster.keywords),
            "examples": candidates if kind == "examples" else [], "candidates": candidates, "texts": texts[:50],
            "reasons": Counter(m.reason for m in members), "basis": basis, "size": len(members),
            "message_ids": sorted(m.id for m in members if m.source == "message"),
            "answer_ids": sorted(m.id for m in members if m.source == "answer"),
            "ticket_ids": sorted({m.ticket_id for m in members if m.ticket_id}), "centroid": centroid}


async def _store(conn: Conn, run_id: int, fields: dict[str, Any], threshold: float) -> tuple[int, bool]:
    """Merges the cluster into the closest open proposal (when as close as clusters merge), or stores a new one."""
    params = fields | {"run_id": run_id, "reasons": Jsonb(dict(fields["reasons"])), "basis": Jsonb(fields["basis"])}
    near = await (await conn.execute(Q.nearest_open_proposal, params)).fetchone()
    if near is not None and near["similarity"] >= threshold:
        old = _array(near["centroid"]) * near["size"] + fields["centroid"] * fields["size"]
        merged = await (await conn.execute(Q.merge_proposal, params | {
            "id": near["id"], "centroid": old / (np.linalg.norm(old) or 1.0)})).fetchone()
        if merged is not None:
            return int(merged["id"]), False
    row = await (await conn.execute(Q.insert_proposal, params)).fetchone()
    assert row is not None
    return int(row["id"]), True


async def cluster(conn: Conn, settings: Settings, embedder: Embedder, *, until: datetime | None = None,
                  since: datetime | None = None) -> RunSummary:
    """One pass over the failures since the previous pass (or ``since``); stores and returns its proposals."""
    until = until or datetime.now(UTC)
    async with conn.transaction():
        await conn.execute(Q.run_lock)
        if since is None:
            last = await (await conn.execute(Q.last_run_until)).fetchone()
            since = last["until"] if last else until - timedelta(days=settings.improve_first_days)
        failures, vectors = await _failures(conn, settings, embedder, since=since, until=until)
        clusters = kb_index.cluster_texts([f.text for f in failures], vectors, threshold=settings.improve_cluster_threshold,
                                          min_size=settings.improve_cluster_min_size)
        run = await (await conn.execute(Q.insert_run, {"since": since, "until": until, "failures": len(failures),
                                                       "clusters": len(clusters)})).fetchone()
        assert run is not None
        new: list[int] = []
        merged: list[int] = []
        if clusters:
            index = await intents.load_index(settings, embedder)
            categories = await _category_intents(conn, sorted({f.category for f in failures if f.category}))
            for c in clusters:
                members = [failures[i] for i in c.members]
                kind, intent, basis = decide(members, vectors[list(c.members)], index, categories)
                pid, created = await _store(conn, run["id"], _fields(members, vectors[list(c.members)], c, kind,
                                                                     intent, basis, index),
                                            settings.improve_cluster_threshold)
                (new if created else merged).append(pid)
    return RunSummary(run_id=run["id"], since=since, until=until, failures=len(failures), clusters=len(clusters),
                      proposals_new=new, proposals_merged=sorted(set(merged)))


# ---------- reading and deciding ----------

def _proposal(row: dict[str, Any]) -> Proposal:
    return Proposal(**{k: v for k, v in row.items() if k != "centroid"})


async def list_proposals(conn: Conn, *, status: str | None = None, kind: str | None = None, limit: int = 50,
                         cursor: str | None = None) -> tuple[list[Proposal], str | None]:
    rows = await (await conn.execute(Q.list_proposals, {"status": status, "kind": kind, "limit": limit + 1,
                                                        "before_id": pagination.decode("p", cursor)})).fetchall()
    return pagination.page([_proposal(r) for r in rows], limit=limit, kind="p")


async def get(conn: Conn, *, proposal_id: int) -> Proposal:
    row = await (await conn.execute(Q.get_proposal, {"id": proposal_id})).fetchone()
    if row is None:
        raise NotFound(f"No proposal {proposal_id}.")
    return _proposal(row)


async def _locked(conn: Conn, proposal_id: int) -> dict[str, Any]:
    row = await (await conn.execute(Q.lock_proposal, {"id": proposal_id})).fetchone()
    if row is None:
        raise NotFound(f"No proposal {proposal_id}.")
    return dict(row)


def _check_intent(intent: str | None) -> None:
    known = intents.domain_intents()
    if intent is not None and intent not in known:
        raise ValidationFailed(f"Unknown intent {intent!r}: use one of the bot's intents "
                               f"({', '.join(sorted(known))}).")


async def edit(conn: Conn, *, proposal_id: int, data: ProposalEdit) -> Proposal:
    """Changes what an open (or not promoted) proposal proposes."""
    _check_intent(data.intent)
    async with conn.transaction():
        row = await _locked(conn, proposal_id)
        if row["status"] not in EDITABLE:
            raise Conflict(f"Proposal {proposal_id} is {row['status']}; only open or not promoted ones can change.")
        changed = row | data.model_dump(exclude_none=True)
        if changed["kind"] == "examples" and not changed["intent"]:
            raise ValidationFailed("Training examples need an intent.")
        done = await (await conn.execute(Q.edit_proposal, changed)).fetchone()
    assert done is not None
    return _proposal(done)


async def approve(conn: Conn, kb_service: kb.Kb, *, principal: Principal, proposal_id: int,
                  note: str | None = None) -> Proposal:
    """Approves a proposal: its examples go into the next candidate model; a KB draft becomes a draft article."""
    async with conn.transaction():
        row = await _locked(conn, proposal_id)
        if row["status"] not in EDITABLE:
            raise Conflict(f"Proposal {proposal_id} is already {row['status']}.")
        article_id = None
        if row["kind"] == "examples":
            _check_intent(row["intent"])
            if not row["examples"]:
                raise ValidationFailed(f"Proposal {proposal_id} has no examples left; add some or reject it.")
        else:
            article_id = await _draft(conn, kb_service, principal, row)
        done = await (await conn.execute(Q.decide_proposal, {"id": proposal_id, "status": "approved", "note": note,
                                                             "user_id": principal.id, "article_id": article_id}))\
            .fetchone()
    assert done is not None
    return _proposal(done)


async def _draft(conn: Conn, kb_service: kb.Kb, principal: Principal, row: dict[str, Any]) -> str:
    """A draft article (visible to admins) for a KB proposal, from the KB trends' draft template."""
    article_id = f"{kb_index.slugify(row['title'])[:80].rstrip('-') or 'draft'}-p{row['id']}"
    data = ArticleCreate(id=article_id, title=row["title"], body=trends.draft_body(row["title"], row["texts"][:10]),
                         status="draft", tags=["from-failed-chats"])
    article, _ = await kb.create_article(conn, kb_service, principal=principal, data=data)
    return article.id


async def reject(conn: Conn, *, principal: Principal, proposal_id: int, note: str | None = None) -> Proposal:
    async with conn.transaction():
        row = await _locked(conn, proposal_id)
        if row["status"] not in EDITABLE:
            raise Conflict(f"Proposal {proposal_id} is already {row['status']}.")
        done = await (await conn.execute(Q.decide_proposal, {"id": proposal_id, "status": "rejected", "note": note,
                                                             "user_id": principal.id, "article_id": None})).fetchone()
    assert done is not None
    return _proposal(done)
