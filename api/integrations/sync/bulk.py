"""Whole-connector runs for the CLI, through the connector's session (api/integrations/sync/protocol.py):
backfill (import open external tickets not linked yet) and reconcile (compare the linked tickets' mapped fields on
both sides; with ``apply``, write ours there).

Both take ``on_progress(done, total)`` for a progress bar.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from psycopg.types.json import Jsonb

from api import sql
from api.db import Conn
from api.integrations.sync import connectors, kinds
from api.settings import Settings
from api.tickets import service as tickets

Q = sql.load("api.integrations.sync")
Progress = Callable[[int, int], None]


def _quiet(done: int, total: int) -> None:
    pass


@dataclass
class Backfilled:
    found: int = 0                                   # open external tickets not linked yet
    imported: list[tuple[str, str]] = field(default_factory=list)  # (external id, our number)


async def backfill(conn: Conn, settings: Settings, *, name: str, dry_run: bool = False,
                   on_progress: Progress = _quiet) -> Backfilled:
    """Imports the connector's open external tickets that no deskmate ticket is linked to (and their follow-ups)."""
    rt = await connectors.runtime(conn, settings, name=name)
    actor = await connectors.principal(conn)
    result = Backfilled()
    async with kinds.open_session(rt, settings) as session:
        candidates = []
        async for change in session.open_tickets(page_size=settings.sync.page_size):
            linked = await (await conn.execute(Q.link_by_external, {
                "connector_id": rt.id, "external_id": change.external_id})).fetchone()
            if linked is None:
                candidates.append(change)
        result.found = len(candidates)
        for done, change in enumerate(candidates, 1):
            if not dry_run:
                async with conn.transaction():
                    data, seen = session.imported(change)
                    ticket, _ = await tickets.create(conn, principal=actor, data=data)
                    link = await (await conn.execute(Q.insert_link, {
                        "connector_id": rt.id, "ticket_id": ticket.id, "external_id": change.external_id,
                        "remote_date_mod": None, "remote_values": Jsonb(seen)})).fetchone()
                    assert link is not None
                    await session.pull(conn, link=dict(link), change=change, actor=actor)
                result.imported.append((change.external_id, ticket.number))
            on_progress(done, len(candidates))
    return result


@dataclass(frozen=True)
class Drift:
    number: str
    external_id: str
    field: str
    local: Any
    remote: Any


async def reconcile(conn: Conn, settings: Settings, *, name: str, apply: bool = False,
                    on_progress: Progress = _quiet) -> list[Drift]:
    """The mapped fields that differ between each linked ticket and its external ticket; with ``apply``, writes
    deskmate's values there."""
    rt = await connectors.runtime(conn, settings, name=name)
    actor = await connectors.principal(conn)
    links = [dict(r) for r in await (await conn.execute(Q.list_links, {"connector_id": rt.id})).fetchall()]
    drift: list[Drift] = []
    async with kinds.open_session(rt, settings) as session:
        for done, link in enumerate(links, 1):
            ticket = (await tickets.get_or_raise(conn, principal=actor, ref=link["ticket_id"])).model_dump()
            differ = await session.drift(conn, ticket=ticket, link=link, apply=apply)
            drift += [Drift(link["number"], link["external_id"], *d) for d in differ]
            on_progress(done, len(links))
    return drift
