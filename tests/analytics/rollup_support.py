"""Comparing the analytics read from the rollups with the same metrics computed live (api/analytics/rollups.py)."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from api.analytics import service
from api.analytics.models import Period

ROLLED_METRICS = (service.backlog, service.mtta, service.mttr, service.fcr)


async def both(conn: AsyncConnection, period: Period) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(rolled, live) for each metric the rollups serve."""
    return [(await metric(conn, period), await metric(conn, period, rolled=False)) for metric in ROLLED_METRICS]


async def assert_rolled_is_live(conn: AsyncConnection, *periods: Period) -> None:
    for period in periods:
        for rolled, live in await both(conn, period):
            assert rolled == live, period


async def durations_row(conn: AsyncConnection, ticket_id: int) -> dict[str, Any] | None:
    cur = await conn.execute("SELECT * FROM ticket_durations WHERE ticket_id = %s", (ticket_id,))
    return await cur.fetchone()  # type: ignore[return-value]


async def backlog_rows(conn: AsyncConnection, team: str) -> list[dict[str, Any]]:
    cur = await conn.execute("SELECT b.day, b.category_id, b.open_delta FROM backlog_daily b JOIN teams t "
                             "ON t.id = b.team_id WHERE t.slug = %s ORDER BY 1, 2", (team,))
    return list(await cur.fetchall())  # type: ignore[arg-type]


async def change(conn: AsyncConnection, ticket_id: int, actor_id: int, when: Any, *, kind: str,
                 before: dict[str, Any], after: dict[str, Any], columns: dict[str, Any]) -> None:
    """What a service does: update the ticket and write its event, in one transaction."""
    async with conn.transaction():
        for column, value in columns.items():
            await conn.execute(f"UPDATE tickets SET {column} = %s WHERE id = %s", (value, ticket_id))  # noqa: S608
        await conn.execute("INSERT INTO ticket_events (ticket_id, actor_id, kind, before, after, created_at) "
                           "VALUES (%s, %s, %s, %s, %s, %s)", (ticket_id, actor_id, kind, Jsonb(before), Jsonb(after),
                                                               when))
