"""Agents' weekly shifts (routing assigns only to agents on shift)."""

from __future__ import annotations

from api import sql
from api.auth import service as people
from api.db import Conn
from api.routing.models import Shift, ShiftIn

Q = sql.load("api.routing")


async def list_shifts(conn: Conn, *, user_id: int) -> list[Shift]:
    """The user's weekly shifts; NotFound when there is no such user."""
    await people.get_or_raise(conn, user_id=user_id)
    return [Shift(**r) for r in await (await conn.execute(Q.list_shifts, {"user_id": user_id})).fetchall()]


async def replace_shifts(conn: Conn, *, user_id: int, shifts: list[ShiftIn]) -> list[Shift]:
    """Replaces an agent's weekly shifts (an empty list: always on shift); NotFound when there is no such user."""
    await people.get_or_raise(conn, user_id=user_id)
    async with conn.transaction():
        await conn.execute(Q.delete_shifts, {"user_id": user_id})
        for shift in shifts:
            await conn.execute(Q.insert_shift, shift.model_dump() | {"user_id": user_id})
    return await list_shifts(conn, user_id=user_id)
