"""Similar resolved tickets: the resolved or closed tickets nearest in meaning to a ticket (the agent console).

Tickets are embedded with the knowledge base's embedder into ``kb_ticket_vectors`` (the cache KB trends fill
too), each vector keyed by a hash of the text it was computed from (``text_hash``), so a changed title or
description is embedded again. ``embed_resolved`` (the ``kb.embed_resolved`` job, every 10 minutes) embeds the
resolved and closed tickets that have no vector of their current text; ``similar_resolved`` ranks those the
caller may see (the ticket service's visibility rule) by cosine similarity to the ticket, whose own vector is
read from the cache or computed in memory (looking never writes).
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from api import sql
from api.auth.models import Principal
from api.db import Conn
from api.kb.models import SimilarTicket
from api.kb.service import Kb
from api.tickets import service as tickets

Q = sql.load("api.kb")
MIN_SIMILARITY = 0.5  # below this a "similar" ticket is rarely about the same problem (MiniLM cosine)
BATCH = 200


def ticket_text(title: str, description: str) -> str:
    """The text of a ticket that is embedded: title and description, at most 2,000 characters."""
    return f"{title}\n{description}"[:2000]


def text_hash(title: str, description: str) -> str:
    """The key of a ticket's cached vector (queries.sql ``unembedded_resolved`` computes the same in SQL)."""
    return hashlib.sha256(f"{title}\n{description}".encode()).hexdigest()


async def store_vectors(conn: Conn, kb: Kb, rows: list[dict[str, Any]]) -> int:
    """Embeds rows of ``id``, ``title`` and ``description`` and caches their vectors; returns how many."""
    if not rows:
        return 0
    texts = [ticket_text(r["title"], r["description"]) for r in rows]
    vectors = await kb.embedder.aembed(texts)
    async with conn.transaction():
        for r, v in zip(rows, vectors, strict=True):
            await conn.execute(Q.upsert_ticket_vector, {
                "ticket_id": r["id"], "embedding": v, "text_hash": text_hash(r["title"], r["description"])})
    return len(rows)


async def embed_resolved(conn: Conn, kb: Kb, *, limit: int = BATCH) -> int:
    """Embeds up to ``limit`` resolved or closed tickets without a vector of their current text, most recently
    resolved first; returns how many."""
    rows = await (await conn.execute(Q.unembedded_resolved, {"limit": limit})).fetchall()
    return await store_vectors(conn, kb, list(rows))


async def similar_resolved(conn: Conn, kb: Kb, *, principal: Principal, ticket_ref: str | int,
                           k: int = 5) -> list[SimilarTicket]:
    """The ``k`` resolved or closed tickets the caller may see closest to a ticket the caller may see.

    Parameters: ``ticket_ref`` is the ticket's id or number. Returns: closest first, never the ticket itself,
    none less than ``MIN_SIMILARITY`` close. Raises NotFound when the caller may not see the ticket.
    """
    ticket = await tickets.get_or_raise(conn, principal=principal, ref=str(ticket_ref))
    cached = await (await conn.execute(Q.ticket_vector, {
        "ticket_id": ticket.id, "text_hash": text_hash(ticket.title, ticket.description)})).fetchone()
    vector = cached["embedding"].to_numpy() if cached else await kb.embedder.aembed_query(
        ticket_text(ticket.title, ticket.description))
    rows = await (await conn.execute(Q.similar_resolved, {
        "embedding": np.asarray(vector, dtype=np.float32), "ticket_id": ticket.id, "min_similarity": MIN_SIMILARITY,
        "limit": k} | tickets.visibility(principal))).fetchall()
    return [SimilarTicket(**r) for r in rows]
