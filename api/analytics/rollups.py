"""Analytics rollups: what the backlog, MTTA, MTTR and FCR read instead of every ticket's events (migration 0045).

``ticket_durations`` keeps, per ticket, its team, category, times, the business seconds to the first response and
to the resolution, and whether it was a first-contact resolution; ``backlog_daily`` the backlog's changes per UTC
day, team and category. ``refresh`` brings them up to the newest ticket and event (``deskmate analytics refresh``,
the worker's ``analytics.refresh`` every 15 minutes); it reads only the tickets created or with events since the
last run (the watermarks), and running it again changes nothing. The metrics stay exact between runs: a ticket
created or changed since (the "touched" set) is computed live, and the rest read here (docs/analytics.md
"Rollups").
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from api import sql
from api.analytics.models import Granularity, Period
from api.db import Conn
from api.sla import policies
from api.sla.calendar import Calendar, business_seconds_between

Q = sql.load("api.analytics", "rollups.sql")
BATCH = 5000  # tickets per transaction of a refresh
WRITERS_WAIT_S = 60.0  # how long a refresh waits for the transactions writing when it starts
LOCK = 0x616E616C  # pg_advisory_lock key: one refresh at a time
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class State:
    ticket_watermark: int
    event_watermark: int
    refreshed_at: datetime


async def fetch(conn: Conn, query: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Every row of ``query`` (the analytics' statements, here and in service.py)."""
    return list(await (await conn.execute(query, params)).fetchall())


async def state(conn: Conn) -> State | None:
    """How far the rollups go; None when they were never built (the metrics then compute everything live)."""
    row = (await fetch(conn, Q.state))[0]
    return State(**row) if row["refreshed_at"] is not None else None


async def touched(conn: Conn, st: State) -> list[int]:
    """The tickets created or with an event after the watermarks: the ones the metrics compute live."""
    params = {"ticket_watermark": st.ticket_watermark, "event_watermark": st.event_watermark,
              "ticket_upto": None, "event_upto": None}
    return [r["id"] for r in await fetch(conn, Q.touched, params)]


def fingerprint(cal: Calendar) -> str:
    """A digest of what business seconds depend on: the calendar's time zone, hours and holidays."""
    spec = [cal.time_zone, sorted(cal.week.items()), sorted(d.isoformat() for d in cal.holidays)]
    return hashlib.sha256(json.dumps(spec).encode()).hexdigest()[:16]


class Calendars:
    """The teams' calendars (api/sla/policies.py: the team's, else the default, else 24/7) with their fingerprints,
    each read once."""

    def __init__(self, conn: Conn) -> None:
        self._conn = conn
        self._known: dict[int | None, tuple[Calendar, str]] = {}

    async def get(self, team_id: int | None) -> tuple[Calendar, str]:
        if team_id not in self._known:
            cal = (await policies.calendar_for_team(self._conn, team_id=team_id))[1]
            self._known[team_id] = (cal, fingerprint(cal))
        return self._known[team_id]

    async def fingerprints(self) -> dict[str, list[Any]]:
        """Every team's (and no team's) calendar fingerprint, as the parallel arrays the queries take."""
        teams: list[int | None] = [None, *[r["id"] for r in await fetch(self._conn, Q.teams)]]
        return {"calendar_teams": teams, "calendar_hashes": [(await self.get(t))[1] for t in teams]}


def bucket_of(day: date, granularity: Granularity) -> date:
    """The start of the bucket (the day, or the ISO week's Monday) holding ``day``."""
    return day - timedelta(days=day.weekday()) if granularity is Granularity.week else day


async def backlog_deltas(conn: Conn, period: Period, st: State) -> dict[date, int]:
    """The backlog's change per bucket of the period (all changes before it in the first bucket): the rollup's,
    corrected for the touched tickets."""
    assert period.start is not None
    params = period.params()
    out = {r["bucket"]: r["delta"] for r in await fetch(conn, Q.backlog_buckets, params)}
    ids = await touched(conn, st)
    if ids:
        first, end = bucket_of(period.start, period.granularity), period.until.date()
        for r in await fetch(conn, Q.backlog_corrections, params | {"tickets": ids, "upto": None}):
            if r["day"] < end:
                key = max(bucket_of(r["day"], period.granularity), first)
                out[key] = out.get(key, 0) + r["delta"]
    return out


async def durations(conn: Conn, period: Period, st: State, calendars: Calendars, *,
                    respond: bool) -> list[dict[str, Any]]:
    """MTTA's (``respond``) or MTTR's tickets of the period: ``rolled`` with the rollup's business ``seconds`` when
    rolled up, unchanged since and counted in the calendar as it is now; else ``created_at`` and ``ended_at`` (the
    first response or the resolution) to compute them."""
    params = period.params() | {"ticket_watermark": st.ticket_watermark, "event_watermark": st.event_watermark}
    query = Q.respond_durations if respond else Q.resolve_durations
    return await fetch(conn, query, params | await calendars.fingerprints())


async def fcr(conn: Conn, period: Period, st: State) -> dict[str, Any]:
    """queries.sql's fcr row, with the rollup's first-contact flag for the tickets rolled up and unchanged since."""
    params = period.params() | {"ticket_watermark": st.ticket_watermark, "event_watermark": st.event_watermark}
    return (await fetch(conn, Q.fcr, params))[0]


async def _horizon(conn: Conn) -> dict[str, int]:
    """The newest ticket and event ids, once every transaction writing when it is read has ended (one of them may
    hold an older id, which a later watermark would skip)."""
    row = (await fetch(conn, Q.horizon))[0]
    deadline = asyncio.get_running_loop().time() + WRITERS_WAIT_S
    while (await fetch(conn, Q.still_writing, row))[0]["running"]:
        if asyncio.get_running_loop().time() > deadline:
            log.warning("analytics rollups: transactions still writing after %ss; going on", WRITERS_WAIT_S)
            break
        await asyncio.sleep(0.1)
    return {"ticket_upto": row["ticket_upto"], "event_upto": row["event_upto"]}


async def _roll(conn: Conn, ids: list[int], *, upto: int, calendars: Calendars) -> None:
    """Brings these tickets' rows and their share of the backlog up to the event ``upto``, in one transaction."""
    async with conn.transaction():
        changes = await fetch(conn, Q.backlog_corrections,
                              {"tickets": ids, "upto": upto, "team": None, "category": None})
        rows = []
        for t in await fetch(conn, Q.ticket_times, {"tickets": ids}):
            cal, digest = await calendars.get(t["team_id"])
            rows.append(t | {"upto": upto, "calendar_hash": digest,
                             "respond_s": _seconds(cal, t["created_at"], t["responded_at"]),
                             "resolve_s": _seconds(cal, t["created_at"], t["resolved_at"])})
        async with conn.cursor() as cur:
            if changes:
                await cur.executemany(Q.add_backlog, changes)
            if rows:
                await cur.executemany(Q.put_duration, rows)


async def _ids(conn: Conn, query: str, params: dict[str, Any] | None = None) -> list[int]:
    return [r["id"] for r in await fetch(conn, query, params)]


async def _recalendared(conn: Conn, calendars: Calendars) -> list[int]:
    """The rolled-up tickets whose seconds were counted in a calendar that was edited since (or is no longer the
    team's)."""
    ids: list[int] = []
    for r in await fetch(conn, Q.calendar_hashes):
        if r["calendar_hash"] != (await calendars.get(r["team_id"]))[1]:
            ids += await _ids(conn, Q.counted_in, r)
    return ids


def _seconds(cal: Calendar, start: datetime, end: datetime | None) -> float | None:
    return business_seconds_between(cal, start, end) if end is not None else None


async def clear(conn: Conn) -> None:
    """Empties the rollups: the metrics are computed live until the next refresh, which rolls up every ticket."""
    async with conn.transaction():
        await conn.execute(Q.reset)
        await conn.execute(Q.reset_state)


async def refresh(conn: Conn, *, full: bool = False,
                  on_progress: Callable[[int, int], None] | None = None) -> dict[str, int]:
    """Brings the rollups up to the newest ticket and event.

    Besides the tickets created or with events since the last run, it rolls up again those whose team, category or
    times changed without an event, and those whose calendar was edited.

    Parameters: ``conn`` in autocommit (each batch of tickets is its own transaction); ``full``: empty them first
    and roll up every ticket;
    ``on_progress(done, total)``: called after each batch.
    Returns: the tickets rolled up and the new watermarks.
    """
    await conn.execute(Q.lock, {"key": LOCK})
    try:
        if full:
            await clear(conn)
        row = (await fetch(conn, Q.state))[0]
        horizon = await _horizon(conn)
        calendars = Calendars(conn)
        ids = sorted(set(await _ids(conn, Q.touched, {"ticket_watermark": row["ticket_watermark"],
                                                      "event_watermark": row["event_watermark"]} | horizon))
                     | set(await _ids(conn, Q.drifted)) | set(await _recalendared(conn, calendars)))
        for i in range(0, len(ids), BATCH):
            await _roll(conn, ids[i:i + BATCH], upto=horizon["event_upto"], calendars=calendars)
            if on_progress is not None:
                on_progress(min(i + BATCH, len(ids)), len(ids))
        await conn.execute(Q.set_watermarks, horizon)
    finally:
        await conn.execute(Q.unlock, {"key": LOCK})
    return {"tickets": len(ids)} | horizon
