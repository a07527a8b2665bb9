"""Me too: before the chat opens a ticket, is this already a known issue?

A report (the employee's own words, embedded with the knowledge base's MiniLM, and the category its chat intent
implies) is compared with the reports already linked to open incident tickets (those of the last
DESKMATE_METOO_WINDOW_HOURS; any age for a major incident) and with major incidents' summaries. The closest
ticket at cosine similarity >= DESKMATE_METOO_MIN_SIMILARITY whose category does not contradict the report's
(major incidents first; the reporter's own tickets left out) is the known issue: the employee is linked to it as an affected person instead of
opening a duplicate. When DESKMATE_METOO_THRESHOLD people have reported a ticket within the window, it is
declared a major incident automatically.

Concurrency: the embedding is computed before the transaction; the decision (read the candidates, then link,
or open the ticket and record its first report) runs under one transaction-scoped advisory lock
(``lock_matching``), so twenty simultaneous "VPN is down" reports see each other's tickets: one ticket, the
others linked. The lock is held only for a few short statements.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from api import sql
from api.db import Conn
from api.incidents import affected, service
from api.incidents.models import KnownIssue
from api.kb.embedding import Embedder, to_pgvector
from api.settings import Settings

Q = sql.load("api.incidents")
REPORT_MAX = 2000


@dataclass(frozen=True)
class Matching:
    """How reports are matched (from the DESKMATE_METOO_* settings) and the embedder to use."""

    embedder: Embedder
    threshold: int
    window_s: float
    min_similarity: float

    @classmethod
    def from_settings(cls, settings: Settings, embedder: Embedder) -> Matching | None:
        """The matching to use, or None when DESKMATE_METOO_ENABLED is off."""
        if not settings.metoo_enabled:
            return None
        return cls(embedder=embedder, threshold=settings.metoo_threshold,
                   window_s=settings.metoo_window_hours * 3600, min_similarity=settings.metoo_min_similarity)


@dataclass(frozen=True)
class Report:
    """One employee's report: their words, its embedding (a pgvector literal) and the category its intent implies."""

    text: str
    embedding: str
    category_id: int | None


async def report(conn: Conn, matching: Matching, *, text: str, intent: str | None) -> Report:
    """Embeds a report (call it before taking the lock: embedding is the slow part)."""
    text = text.strip()[:REPORT_MAX]
    vector = await matching.embedder.aembed_query(text)
    row = await (await conn.execute(Q.intent_category, {"intent": intent})).fetchone() if intent else None
    return Report(text=text, embedding=to_pgvector(vector), category_id=row["category_id"] if row else None)


def _agrees(report: Report, candidate: dict[str, Any]) -> bool:
    """Categories only veto: a known category on both sides must be the same."""
    theirs = candidate["report_category_id"] or candidate["category_id"]
    return report.category_id is None or theirs is None or report.category_id == theirs


async def _record(conn: Conn, *, ticket_id: int, user_id: int, conversation_id: str | None, role: str,
                  report: Report) -> None:
    await conn.execute(Q.insert_affected, {
        "ticket_id": ticket_id, "user_id": user_id, "conversation_id": conversation_id, "role": role,
        "report": report.text, "embedding": report.embedding, "category_id": report.category_id})


async def record_requester(conn: Conn, *, ticket_id: int, user_id: int, conversation_id: str, report: Report) -> None:
    """The first report of a new chat ticket: its requester, whom later reports are matched against."""
    await _record(conn, ticket_id=ticket_id, user_id=user_id, conversation_id=conversation_id, role="requester",
                  report=report)


async def unlink_conversation(conn: Conn, *, conversation_id: str) -> list[int]:
    """Removes the links made from this conversation (the employee said theirs is different); the tickets."""
    rows = await (await conn.execute(Q.unlink_conversation, {"conversation_id": conversation_id})).fetchall()
    return [r["ticket_id"] for r in rows]


async def link_if_known(conn: Conn, matching: Matching, *, report: Report, user_id: int,
                        conversation_id: str) -> KnownIssue | None:
    """Links the employee to the known issue their report matches; None when there is none (open a ticket).

    Takes the matching lock (the caller holds a transaction, in which it then opens the ticket when None).
    Asking again for a ticket in the conversation that was linked means "mine is different": the link from
    this conversation is removed and None returned.
    """
    await conn.execute(Q.lock_matching)
    candidates = await (await conn.execute(Q.candidates, {
        "embedding": report.embedding, "window_s": matching.window_s,
        "min_similarity": matching.min_similarity, "user_id": user_id})).fetchall()
    best = next((c for c in candidates if _agrees(report, c)), None)
    if best is None:
        return None
    mine = await (await conn.execute(Q.affected_row, {"ticket_id": best["id"], "user_id": user_id})).fetchone()
    if mine and mine["role"] == "linked" and str(mine["conversation_id"]) == conversation_id:
        await unlink_conversation(conn, conversation_id=conversation_id)
        return None
    if mine is None:
        await _record(conn, ticket_id=best["id"], user_id=user_id, conversation_id=conversation_id, role="linked",
                      report=report)
    major = best["major"] or await _declare_when_many(conn, matching, ticket_id=best["id"])
    return await _issue(conn, best | {"major": major}, user_id=user_id, similarity=float(best["similarity"]))


async def _issue(conn: Conn, t: dict[str, Any], *, user_id: int, similarity: float | None = None) -> KnownIssue:
    return KnownIssue(id=t["id"], number=t["number"], status=t["status"], major=t["major"],
                      title=t["title"] if t["major"] or t["requester_id"] == user_id else None,
                      affected=await affected.count(conn, ticket_id=t["id"]),
                      similarity=round(similarity, 4) if similarity is not None else None)


async def linked_issue(conn: Conn, *, ticket_id: int, user_id: int, conversation_id: str) -> KnownIssue | None:
    """The known issue this conversation's employee was linked to from it (answering a repeated turn), or None."""
    row = await (await conn.execute(Q.linked_issue, {"ticket_id": ticket_id, "user_id": user_id,
                                                     "conversation_id": conversation_id})).fetchone()
    return await _issue(conn, dict(row), user_id=user_id) if row else None


async def _declare_when_many(conn: Conn, matching: Matching, *, ticket_id: int) -> bool:
    """Declares the ticket a major incident once DESKMATE_METOO_THRESHOLD people reported it within the window."""
    row = await (await conn.execute(Q.recent_reports, {"ticket_id": ticket_id, "window_s": matching.window_s})).fetchone()
    if row is None or row["n"] < matching.threshold:
        return False
    await service.declare_automatically(conn, ticket_id=ticket_id)
    return True
