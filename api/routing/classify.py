"""Classification: a ticket's category by nearest neighbours over labelled examples, urgency and impact
from cues in the text and the requester, and the chat intent when the ticket came from the bot.

Examples are category descriptions, seeded texts and tickets an agent re-categorised, embedded with
the knowledge base's MiniLM model. The category's share of the neighbours' softmax weight, damped
when even the best match is far, is its confidence.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from api import sql
from api.db import Conn
from api.kb.embedding import Embedder, to_pgvector
from api.routing.models import Classification, Neighbour

Q = sql.load("api.routing")
K = 8                  # neighbours looked at
TEMPERATURE = 0.05     # softmax temperature over cosine similarities
FULL_SIMILARITY = 0.55  # a best match this close (or closer) does not damp the confidence
DEFAULT_INTENT_CONFIDENCE = 0.8


@dataclass(frozen=True)
class Cue:
    name: str
    pattern: re.Pattern[str]
    urgency: int | None = None
    impact: int | None = None


CUES = (
    Cue("everyone", re.compile(
        r"\b(every ?(one|body)|whole (team|office|floor|building|company|department)|all (users|staff|employees"
        r"|of us)|nobody can|no ?one can|company[- ]wide)\b", re.I), impact=1),
    Cue("production down", re.compile(
        r"\b(production|prod|site|server|system|service|website|app|application|network|internet|e-?mail)"
        r"\s+(is |are )?(completely )?(down|offline|unavailable|not reachable)\b|\boutage\b", re.I),
        urgency=1, impact=2),
    Cue("can't work", re.compile(
        r"\b(can'?t|cannot|can not|unable to|not able to)\s+(work|do (my|any) work|do anything|log ?in|sign ?in)\b"
        r"|\b(completely )?blocked\b", re.I), urgency=1),
)


def cues_in(text: str) -> list[Cue]:
    return [cue for cue in CUES if cue.pattern.search(text)]


def urgency_impact(text: str, *, urgency: int, impact: int, vip: bool) -> tuple[int, int, list[str]]:
    """Raises (never lowers) urgency and impact from the cues in ``text`` and a VIP requester."""
    found: list[str] = []
    for cue in cues_in(text):
        found.append(cue.name)
        urgency = min(urgency, cue.urgency or urgency)
        impact = min(impact, cue.impact or impact)
    if vip:
        found.append("VIP requester")
        urgency = max(1, urgency - 1)
    return urgency, impact, found


def ticket_text(title: str, description: str) -> str:
    return f"{title}. {description[:2000]}".strip()


async def sync_examples(conn: Conn, embedder: Embedder) -> int:
    """Keeps one description example per category and embeds examples that have none; returns how many."""
    await conn.execute(Q.delete_stale_descriptions)
    await conn.execute(Q.insert_missing_descriptions)
    done = 0
    while rows := await (await conn.execute(Q.examples_without_embedding, {"limit": 128})).fetchall():
        vectors = await embedder.aembed([r["text"] for r in rows])
        for row, vector in zip(rows, vectors, strict=True):
            await conn.execute(Q.set_example_embedding, {"id": row["id"], "embedding": to_pgvector(vector)})
        done += len(rows)
    return done


def _vote(neighbours: list[Neighbour]) -> tuple[str | None, float]:
    if not neighbours:
        return None, 0.0
    best = max(n.similarity for n in neighbours)
    weights: dict[str, float] = defaultdict(float)
    for n in neighbours:
        weights[n.category] += math.exp((n.similarity - best) / TEMPERATURE)
    category, weight = max(weights.items(), key=lambda kv: kv[1])
    share = weight / sum(weights.values())
    closest = max(n.similarity for n in neighbours if n.category == category)
    return category, round(share * min(1.0, max(closest, 0.0) / FULL_SIMILARITY), 3)


async def _intent(conn: Conn, metadata: dict[str, Any]) -> tuple[str | None, str | None, float]:
    intent = metadata.get("intent")
    if not isinstance(intent, str) or not intent:
        return None, None, 0.0
    row = await (await conn.execute(Q.intent_category, {"intent": intent})).fetchone()
    raw = metadata.get("intent_confidence", metadata.get("confidence", DEFAULT_INTENT_CONFIDENCE))
    return intent, (row["slug"] if row else None), intent_confidence(raw)


def intent_confidence(raw: Any) -> float:
    """A confidence from outside (the bot, an integration) as a number in [0, 1]: out-of-range values are
    clamped, huge ones (an int of 400 digits, inf) too; anything not a real number is the default."""
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return DEFAULT_INTENT_CONFIDENCE
    if isinstance(raw, int):
        return 1.0 if raw >= 1 else 0.0
    if math.isnan(raw):
        return DEFAULT_INTENT_CONFIDENCE
    return min(max(raw, 0.0), 1.0)


async def classify(
    conn: Conn, *, embedder: Embedder, title: str, description: str, urgency: int, impact: int,
    vip: bool, metadata: dict[str, Any],
) -> Classification:
    """Category with confidence, urgency and impact with the cues found, and the chat intent's category.

    Parameters: the ticket's text, the urgency/impact it was opened with, whether the requester is
    a VIP, its ``integration_metadata`` (``intent`` and ``intent_confidence``/``confidence`` from the bot).
    Returns: a Classification; ``category`` is None when there are no examples at all.
    """
    await sync_examples(conn, embedder)
    text = ticket_text(title, description)
    vector = await embedder.aembed_query(text)
    rows = await (await conn.execute(Q.nearest_examples, {"embedding": to_pgvector(vector), "k": K})).fetchall()
    neighbours = [Neighbour(category=r["category"], similarity=round(float(r["similarity"]), 4), source=r["source"])
                  for r in rows]
    category, confidence = _vote(neighbours)
    intent, intent_category, intent_confidence = await _intent(conn, metadata)
    if intent_category is not None:
        if intent_category == category:
            confidence = 1 - (1 - confidence) * (1 - intent_confidence)
        elif intent_confidence > confidence:
            category, confidence = intent_category, intent_confidence - confidence / 2
        else:
            confidence -= intent_confidence / 2
    urgency, impact, cues = urgency_impact(text, urgency=urgency, impact=impact, vip=vip)
    return Classification(
        category=category, confidence=round(max(confidence, 0.0), 3), urgency=urgency, impact=impact, cues=cues,
        intent=intent, intent_category=intent_category, intent_confidence=round(intent_confidence, 3),
        neighbours=neighbours,
    )


async def learn(conn: Conn, *, embedder: Embedder, ticket_id: int, category_id: int, title: str,
                description: str, actor_id: int | None) -> int | None:
    """Makes a re-categorised ticket a labelled example (replacing an earlier one); returns its id."""
    text = ticket_text(title, description)
    vector = await embedder.aembed_query(text)
    await conn.execute(Q.delete_ticket_example, {"ticket_id": ticket_id})
    row = await (await conn.execute(Q.insert_correction_example, {
        "category_id": category_id, "text": text, "ticket_id": ticket_id, "embedding": to_pgvector(vector),
        "created_by": actor_id,
    })).fetchone()
    return int(row["id"]) if row else None
