"""Whole-connector runs for the CLI: backfill (import open external tickets not linked yet; GLPI only) and
reconcile (compare the linked tickets' mapped fields on both sides; with ``apply``, write ours there).

Both take ``on_progress(done, total)`` for a progress bar.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from psycopg.types.json import Jsonb

from api import sql
from api.db import Conn
from api.errors import ValidationFailed
from api.integrations.glpi import connector as glpi
from api.integrations.glpi import mapping
from api.integrations.sync import connectors, kinds
from api.integrations.sync.connectors import Runtime
from api.settings import Settings
from api.tickets import service as tickets
from api.tickets.models import SourceType, TicketCreate, TicketType

Q = sql.load("api.integrations.sync")
OPEN_IN_GLPI = (1, 2, 3, 4)
Progress = Callable[[int, int], None]


def _quiet(done: int, total: int) -> None:
    pass


async def _glpi(conn: Conn, settings: Settings, name: str) -> Runtime[mapping.GlpiConfig]:
    """The connector, which must be a GLPI one (backfill knows GLPI only so far)."""
    rt = await connectors.runtime(conn, settings, name=name)
    if rt.kind != "glpi":
        raise ValidationFailed(f"Backfill works with GLPI connectors only; {name!r} is a {rt.kind} one.")
    return rt


@dataclass
class Backfilled:
    found: int = 0                                   # open external tickets not linked yet
    imported: list[tuple[str, str]] = field(default_factory=list)  # (external id, our number)


def _ticket_input(remote: dict[str, Any], cfg: mapping.GlpiConfig) -> TicketCreate:
    level = {spec.glpi: spec.into(remote.get(spec.glpi), cfg) for spec in mapping.INBOUND}
    return TicketCreate(
        title=(str(remote.get("name") or "").strip() or f"GLPI ticket {remote['id']}")[:200],
        description=str(remote.get("content") or "")[:20_000],
        type=TicketType.request if remote.get("type") == 2 else TicketType.incident,
        category=level["itilcategories_id"], urgency=level["urgency"] or 2, impact=level["impact"] or 2,
        source_type=SourceType.GLPI, source_reference=str(remote["id"]))


async def backfill(conn: Conn, settings: Settings, *, name: str, dry_run: bool = False,
                   on_progress: Progress = _quiet) -> Backfilled:
    """Imports the connector's open external tickets that no deskmate ticket is linked to (and their follow-ups)."""
    rt = await _glpi(conn, settings, name)
    actor = await connectors.principal(conn)
    result = Backfilled()
    async with glpi.open_client(rt, settings) as client:
        candidates = []
        async for remote in client.pages("Ticket/", params={}, page_size=settings.sync.page_size):
            linked = await (await conn.execute(Q.link_by_external, {
                "connector_id": rt.id, "external_id": str(remote["id"])})).fetchone()
            if remote.get("status") in OPEN_IN_GLPI and not remote.get("is_deleted") and linked is None:
                candidates.append(remote)
        result.found = len(candidates)
        for done, remote in enumerate(candidates, 1):
            if not dry_run:
                async with conn.transaction():
                    ticket, _ = await tickets.create(conn, principal=actor, data=_ticket_input(remote, rt.config))
                    link = await (await conn.execute(Q.insert_link, {
                        "connector_id": rt.id, "ticket_id": ticket.id, "external_id": str(remote["id"]),
                        "remote_date_mod": None, "remote_values": Jsonb(mapping.seen(remote))})).fetchone()
                    assert link is not None
                    await glpi.pull(conn, client, rt, link=dict(link), remote=remote, actor=actor)
                result.imported.append((str(remote["id"]), ticket.number))
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
