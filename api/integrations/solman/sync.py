"""What the sync engine does with one SolMan system (api/integrations/sync/protocol.py): create and link
incidents, push status and priority, send comments as texts, read changed incidents and their texts back.

The engine calls these inside a transaction holding the connector+ticket lock. Conflict rule
(docs/integrations/solman.md#conflicts): before a MERGE the incident is read; when its status is not the one the
link last saw (SolMan changed it) and the ticket's status changed here too, SolMan's status is kept (applied here)
and the conflict recorded. Priority is deskmate's (written); description and category are sent once, with the create.

A create that SolMan carried out but whose link was not recorded (the process died in between) is found again
before a new create: the incident carries the ticket number (``reference_property``) and the incidents changed
since the ticket was opened are searched for it.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg.types.json import Jsonb
from pydantic import SecretStr

from api import sql
from api.auth.models import Principal
from api.db import Conn
from api.errors import Forbidden, InvalidTransition, ValidationFailed
from api.integrations.outbound import OutboundGuard
from api.integrations.solman.client import SolmanClient, SolmanCredentials, parse_date
from api.integrations.solman.mapping import SolmanSyncConfig, carries, create_input, out, seen, ticket_input
from api.integrations.sync.connectors import Runtime
from api.integrations.sync.protocol import Change
from api.settings import Settings
from api.tickets import service as tickets
from api.tickets.models import OPEN_STATUSES, CommentCreate, Status, TicketCreate, Transition

log = logging.getLogger(__name__)
Q = sql.load("api.integrations.sync")
CURSOR = "%Y-%m-%dT%H:%M:%S.%fZ"  # fixed width: cursors compare as strings
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
PRIORITY = "Priority"
OPEN = frozenset(OPEN_STATUSES)


def cursor_of(changed: datetime) -> str:
    return changed.astimezone(UTC).strftime(CURSOR)


def since(cursor: str | None, overlap_s: int, *, first: datetime | None) -> datetime:
    """The oldest changed-at a poll reads: the cursor minus the overlap (UTC). Without a cursor (the first poll):
    from the connector's creation, as no incident changed before it can be linked yet."""
    start = datetime.strptime(cursor, CURSOR).replace(tzinfo=UTC) if cursor else first or EPOCH
    return start - timedelta(seconds=overlap_s)


class SolmanSession:
    def __init__(self, rt: Runtime[SolmanSyncConfig], client: SolmanClient) -> None:
        self.rt, self.client, self.cfg = rt, client, rt.config

    # ---- outbound ----

    async def ensure_link(self, conn: Conn, ticket: dict[str, Any]) -> dict[str, Any]:
        link = await (await conn.execute(Q.get_link, {"connector_id": self.rt.id, "ticket_id": ticket["id"]})).fetchone()
        if link is not None:
            return dict(link)
        remote = await self._created_before(ticket) or await self.client.create_incident(create_input(ticket, self.cfg))
        row = await (await conn.execute(Q.insert_link, {
            "connector_id": self.rt.id, "ticket_id": ticket["id"], "external_id": self._key(remote),
            "remote_date_mod": remote.get(self.cfg.changed_property),
            "remote_values": Jsonb(seen(remote, self.cfg))})).fetchone()
        assert row is not None
        return dict(row)

    async def _created_before(self, ticket: dict[str, Any]) -> dict[str, Any] | None:
        """The incident an earlier attempt created for this ticket, if any (changed since the ticket was opened)."""
        opened = ticket["created_at"] - timedelta(seconds=self.cfg.overlap_s)
        async for remote in self.client.changed_since(opened):
            if carries(remote, ticket["number"], self.cfg):
                return remote
        return None

    async def push_fields(self, conn: Conn, *, ticket: dict[str, Any], link: dict[str, Any], fields: set[str],
                          actor: Principal, reason: str | None = None) -> list[str]:
        status_prop = self.cfg.status_property
        wanted = ({status_prop} if "status" in fields else set()) | (
            {PRIORITY} if fields & {"urgency", "impact", "priority"} else set())
        remote = await self.client.incident(link["external_id"])
        changed_there = self._status_changed_there(remote, link)
        ours, write = out(ticket, self.cfg), {}
        for prop in sorted(wanted):
            if ours[prop] is None or self._same(prop, ticket, remote.get(prop)):
                continue
            if prop != status_prop or not changed_there:  # a status changed there too: SolMan's is kept, below
                write[prop] = ours[prop]
        if write:
            await self.client.update_incident(link["external_id"], write)
            await conn.execute(Q.update_link, {"id": link["id"], "remote_values": Jsonb(write), "remote_date_mod": None})
        if changed_there:
            return await self._take_status(conn, ticket=ticket, link=link, remote=remote, actor=actor)
        return []

    async def push_comment(self, conn: Conn, *, link: dict[str, Any], comment_id: int) -> str:
        """A public comment becomes a reply text; an internal note a text of ``internal_text_type`` when allowed."""
        comment = await (await conn.execute(Q.get_comment, {"id": comment_id})).fetchone()
        internal_type = self.cfg.internal_text_type if self.cfg.push_internal_notes else None
        if comment is None or (comment["internal"] and not internal_type):
            return "skipped"
        if await (await conn.execute(Q.comment_link, {"connector_id": self.rt.id, "comment_id": comment_id,
                                                      "external_id": None})).fetchone():
            return "done"
        key = link["external_id"]
        # A text sent by an attempt that died before it recorded the link: link it instead of sending it again.
        for text in await self.client.texts(key):
            if text.get(self.cfg.text_property) == comment["body"] and not await self._linked(conn, key, text):
                break
        else:
            text = await self.client.add_text(key, comment["body"], text_type=internal_type if comment["internal"]
                                              else None)
        await conn.execute(Q.insert_comment_link, {"connector_id": self.rt.id, "comment_id": comment_id,
                                                   "external_id": self._text_id(key, text)})
        return "done"

    async def push_assignment(self, conn: Conn, *, ticket: dict[str, Any], link: dict[str, Any]) -> None:
        """People are not mapped to SolMan's business partners (docs/integrations/solman.md): nothing is sent."""

    # ---- inbound ----

    async def change(self, external_id: str) -> Change | None:
        remote = await self.client.incident(external_id)
        changed = parse_date(remote.get(self.cfg.changed_property))
        return Change(external_id=self._key(remote), version=remote.get(self.cfg.changed_property),
                      cursor=cursor_of(changed) if changed else "", remote=remote)

    async def changes(self, cursor: str | None, *, page_size: int) -> AsyncIterator[Change]:
        """Oldest change first, from the cursor minus the overlap (pages of the connector's ``page_size``)."""
        async for change in self._changes(since(cursor, self.cfg.overlap_s, first=self.rt.created_at)):
            yield change

    async def open_tickets(self, *, page_size: int) -> AsyncIterator[Change]:
        """Every incident whose status maps to an open deskmate status (all incidents are read: SolMan has no
        documented filter on the status)."""
        async for change in self._changes(EPOCH):
            if self.cfg.status_in.get(str(change.remote.get(self.cfg.status_property))) in OPEN:
                yield change

    def imported(self, change: Change) -> tuple[TicketCreate, dict[str, Any]]:
        """The ticket starts as new: the link says SolMan was "new" too, so the pull brings SolMan's status in."""
        seen_now = seen(change.remote, self.cfg) | {self.cfg.status_property: self.cfg.status_out.get(Status.new)}
        return ticket_input(change.remote, change.external_id, self.cfg), seen_now

    async def pull(self, conn: Conn, *, link: dict[str, Any], change: Change, actor: Principal) -> int:
        """Brings one linked incident in: its status when it changed there, its new texts as comments."""
        ticket = (await tickets.get_or_raise(conn, principal=actor, ref=link["ticket_id"])).model_dump()
        remote = change.remote
        if self._status_changed_there(remote, link):
            await self._take_status(conn, ticket=ticket, link=link, remote=remote, actor=actor)
        added = 0
        for text in await self.client.texts(link["external_id"]):
            if text.get(self.cfg.text_type_property) in self.cfg.ignored_text_types or \
                    await self._linked(conn, link["external_id"], text):
                continue
            comment = await tickets.add_comment(conn, principal=actor, ref=ticket["id"], meta={"sync": self.rt.name},
                                                data=CommentCreate(
                                                    body=str(text.get(self.cfg.text_property) or "(empty)"),
                                                    internal=text.get(self.cfg.text_type_property)
                                                    in self.cfg.internal_text_types))
            await conn.execute(Q.insert_comment_link, {"connector_id": self.rt.id, "comment_id": comment.id,
                                                       "external_id": self._text_id(link["external_id"], text)})
            added += 1
        await conn.execute(Q.update_link, {"id": link["id"], "remote_date_mod": change.version,
                                           "remote_values": Jsonb({PRIORITY: remote.get(PRIORITY)})})
        return added

    async def drift(self, conn: Conn, *, ticket: dict[str, Any], link: dict[str, Any],
                    apply: bool) -> list[tuple[str, Any, Any]]:
        """Status and priority, compared by the maps; with ``apply``, deskmate's are written (a MERGE)."""
        remote, ours = await self.client.incident(link["external_id"]), out(ticket, self.cfg)
        differ = {prop: value for prop, value in ours.items()
                  if value is not None and not self._same(prop, ticket, remote.get(prop))}
        if apply and differ:
            await self.client.update_incident(link["external_id"], differ)
            await conn.execute(Q.update_link, {"id": link["id"], "remote_values": Jsonb(differ), "remote_date_mod": None})
        local = {self.cfg.status_property: "status", PRIORITY: "priority"}
        return [(local[prop], ticket[local[prop]], remote.get(prop)) for prop in differ]

    # ---- helpers ----

    async def _changes(self, after: datetime) -> AsyncIterator[Change]:
        async for remote in self.client.changed_since(after):
            changed = parse_date(remote.get(self.cfg.changed_property))
            yield Change(external_id=self._key(remote), version=remote.get(self.cfg.changed_property),
                         cursor=cursor_of(changed) if changed else "", remote=remote)

    def _key(self, remote: dict[str, Any]) -> str:
        return str(remote[self.cfg.key_property])

    def _text_id(self, key: str, text: dict[str, Any]) -> str:
        """A text's id in the comment links: SolMan's text id, or a digest of the text when the service has none."""
        text_id = text.get(self.cfg.text_id_property)
        if text_id:
            return f"{key}/{text_id}"
        digest = hashlib.sha256(f"{text.get(self.cfg.text_type_property)}\n{text.get(self.cfg.text_property)}"
                                .encode()).hexdigest()[:24]
        return f"{key}/sha256:{digest}"

    async def _linked(self, conn: Conn, key: str, text: dict[str, Any]) -> bool:
        return bool(await (await conn.execute(Q.comment_link, {
            "connector_id": self.rt.id, "comment_id": None, "external_id": self._text_id(key, text)})).fetchone())

    def _same(self, prop: str, ticket: dict[str, Any], remote: Any) -> bool:
        """Whether both sides say the same thing (the status by either map)."""
        if prop == self.cfg.status_property:
            return self.cfg.status_out.get(Status(ticket["status"])) == remote or \
                self.cfg.status_in.get(str(remote)) == ticket["status"]
        return out(ticket, self.cfg)[prop] == remote

    def _status_changed_there(self, remote: dict[str, Any], link: dict[str, Any]) -> bool:
        """Whether SolMan's status is not the one the link last saw (sent or read)."""
        prop = self.cfg.status_property
        return remote.get(prop) != link["remote_values"].get(prop)

    async def _take_status(self, conn: Conn, *, ticket: dict[str, Any], link: dict[str, Any],
                           remote: dict[str, Any], actor: Principal) -> list[str]:
        """Applies the status SolMan changed, through the ticket service as the sync user with ``meta.sync`` (so it
        is not pushed back). When the ticket's status changed here too and says something else, SolMan's wins and
        the conflict is recorded; returns the fields left in conflict. A status the ticket cannot take yet (in
        process while unassigned) is applied by a later push or poll."""
        prop, code = self.cfg.status_property, remote.get(self.cfg.status_property)
        conflicts = []
        if not self._same(prop, ticket, link["remote_values"].get(prop)) and not self._same(prop, ticket, code):
            conflicts.append("status")
            await conn.execute(Q.insert_conflict, {
                "connector_id": self.rt.id, "ticket_id": ticket["id"], "field": "status",
                "local_value": Jsonb(ticket["status"]), "remote_value": Jsonb(code)})
        status = self.cfg.status_in.get(str(code))
        if status is not None and status != ticket["status"]:
            try:
                await tickets.transition(conn, principal=actor, ref=ticket["id"], meta={"sync": self.rt.name},
                                         data=Transition(status=status, reason=f"changed in {self.rt.name}"))
            except (InvalidTransition, Forbidden, ValidationFailed) as exc:
                # Not remembered as seen: the ticket's status is not written over it, and it is tried again.
                log.warning("sync %s: SolMan status %s not applied to %s yet: %s", self.rt.name, code,
                            ticket["number"], exc.detail)
                return conflicts
        await conn.execute(Q.update_link, {"id": link["id"], "remote_date_mod": None, "remote_values": Jsonb({prop: code})})
        return conflicts


def _secret(value: str | None) -> SecretStr | None:
    return SecretStr(value) if value else None


@asynccontextmanager
async def open_session(rt: Runtime[Any], settings: Settings) -> AsyncIterator[SolmanSession]:
    cfg: SolmanSyncConfig = rt.config
    credentials = SolmanCredentials(user=cfg.user, password=_secret(rt.password), token_url=cfg.token_url,
                                    client_id=cfg.client_id, client_secret=_secret(rt.client_secret))
    async with SolmanClient(cfg.client_config(rt.base_url), credentials, guard=OutboundGuard(settings.outbound)) as client:
        yield SolmanSession(rt, client)
