"""The people affected by a ticket: rows written by matching (api.incidents.matching), read here.

A small module with no ticket-service import, so that the alert rules (``affected`` recipients) can read it.
"""

from __future__ import annotations

from api import sql
from api.db import Conn
from api.incidents.models import AffectedUser

Q = sql.load("api.incidents")


async def linked_user_ids(conn: Conn, *, ticket_id: int) -> list[int]:
    """The people linked to the ticket as "me too" (its requester left out): whom a resolution is told to."""
    return [r["user_id"] for r in await (await conn.execute(Q.linked_user_ids, {"ticket_id": ticket_id})).fetchall()]


async def list_affected(conn: Conn, *, ticket_id: int) -> list[AffectedUser]:
    """Everyone affected by the ticket, first reported first."""
    rows = await (await conn.execute(Q.list_affected, {"ticket_id": ticket_id})).fetchall()
    return [AffectedUser(**r) for r in rows]


async def count(conn: Conn, *, ticket_id: int) -> int:
    row = await (await conn.execute(Q.affected_count, {"ticket_id": ticket_id})).fetchone()
    return int(row["n"]) if row else 0
