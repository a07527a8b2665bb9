"""The GLPI connector as the sync engine sees it (api/integrations/sync/protocol.py): a thin session over the
functions of connector.py and one client (the legacy REST API's or the HL API's, as the connector's
``config.api`` says). The cursor is GLPI's ``date_mod`` (its own naive clock)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

from psycopg.types.json import Jsonb

from api import sql
from api.auth.models import Principal
from api.db import Conn
from api.integrations.glpi import connector, mapping, people
from api.integrations.glpi.client import GlpiApi
from api.integrations.glpi.mapping import GlpiConfig
from api.integrations.sync.connectors import Runtime
from api.integrations.sync.protocol import Change
from api.settings import Settings
from api.tickets.models import SourceType, Status, TicketCreate, TicketType

Q = sql.load("api.integrations.sync")
GLPI_DATE = "%Y-%m-%d %H:%M:%S"
OPEN_IN_GLPI = (1, 2, 3, 4)


def floor(cursor: str | None, overlap_s: int) -> str | None:
    """The oldest ``date_mod`` a poll reads: the cursor minus the overlap (GLPI's clock, no timezone)."""
    if not cursor:
        return None
    return (datetime.strptime(cursor, GLPI_DATE) - timedelta(seconds=overlap_s)).strftime(GLPI_DATE)


def _change(remote: dict[str, Any]) -> Change:
    return Change(external_id=str(remote["id"]), version=remote.get("date_mod"),
                  cursor=str(remote.get("date_mod") or ""), remote=remote)


class GlpiSession:
    def __init__(self, rt: Runtime[GlpiConfig], client: GlpiApi) -> None:
        self.rt, self.client = rt, client

    async def ensure_link(self, conn: Conn, ticket: dict[str, Any]) -> dict[str, Any]:
        return await connector.ensure_link(conn, self.client, self.rt, ticket)

    async def push_fields(self, conn: Conn, *, ticket: dict[str, Any], link: dict[str, Any], fields: set[str],
                          actor: Principal, reason: str | None = None) -> list[str]:
        return await connector.push_fields(conn, self.client, self.rt, ticket=ticket, link=link, fields=fields,
                                           actor=actor, reason=reason)

    async def push_comment(self, conn: Conn, *, link: dict[str, Any], comment_id: int) -> str:
        return await connector.push_comment(conn, self.client, self.rt, link=link, comment_id=comment_id)

    async def push_assignment(self, conn: Conn, *, ticket: dict[str, Any], link: dict[str, Any]) -> None:
        await people.push_assignment(conn, self.client, self.rt, ticket=ticket, link=link)

    async def change(self, external_id: str) -> Change | None:
        if not external_id.isdigit():
            return None
        return _change(await self.client.get_ticket(int(external_id)))

    async def changes(self, cursor: str | None, *, page_size: int) -> AsyncIterator[Change]:
        """Newest first (GLPI sorts by ``date_mod`` descending), up to the first one older than the floor."""
        oldest = floor(cursor, self.rt.config.overlap_s)
        async for remote in self.client.tickets_by_date_mod(page_size=page_size):
            date_mod = str(remote.get("date_mod") or "")
            if oldest and date_mod < oldest:
                return
            yield _change(remote)

    async def pull(self, conn: Conn, *, link: dict[str, Any], change: Change, actor: Principal) -> int:
        return await connector.pull(conn, self.client, self.rt, link=link, remote=change.remote, actor=actor)

    async def open_tickets(self, *, page_size: int) -> AsyncIterator[Change]:
        async for remote in self.client.tickets_by_date_mod(page_size=page_size):  # either API, newest first
            if remote.get("status") in OPEN_IN_GLPI and not remote.get("is_deleted"):
                yield _change(remote)

    def imported(self, change: Change) -> tuple[TicketCreate, dict[str, Any]]:
        remote, cfg = change.remote, self.rt.config
        level = {spec.glpi: spec.into(remote.get(spec.glpi), cfg) for spec in mapping.INBOUND}
        return TicketCreate(
            title=(str(remote.get("name") or "").strip() or f"GLPI ticket {remote['id']}")[:200],
            description=str(remote.get("content") or "")[:20_000],
            type=TicketType.request if remote.get("type") == 2 else TicketType.incident,
            category=level["itilcategories_id"], urgency=level["urgency"] or 2, impact=level["impact"] or 2,
            source_type=SourceType.GLPI, source_reference=str(remote["id"])), (
            # the ticket starts as new: the link says GLPI was "new" too, so the pull brings GLPI's status in
            mapping.seen(remote) | {"status": cfg.status_out.get(Status.new)})

    async def drift(self, conn: Conn, *, ticket: dict[str, Any], link: dict[str, Any],
                    apply: bool) -> list[tuple[str, Any, Any]]:
        remote = await self.client.get_ticket(int(link["external_id"]))
        differ = [spec for spec in mapping.FIELDS if not spec.same(ticket, remote.get(spec.glpi), self.rt.config)]
        if apply and differ:
            ours = {spec.glpi: spec.out(ticket, self.rt.config) for spec in differ}
            await self.client.update_ticket(int(link["external_id"]), ours)
            await conn.execute(Q.update_link, {"id": link["id"], "remote_values": Jsonb(ours), "remote_date_mod": None})
        return [(spec.local, ticket[spec.local], remote.get(spec.glpi)) for spec in differ]


@asynccontextmanager
async def open_session(rt: Runtime, settings: Settings) -> AsyncIterator[GlpiSession]:
    async with connector.open_client(rt, settings) as client:
        yield GlpiSession(rt, client)
