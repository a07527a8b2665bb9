"""What the sync engine does with one GLPI server: create and link tickets, push changes, read changes back.

The engine (api/integrations/sync/engine.py) calls these inside a transaction that holds the
connector+ticket lock, so a push and the poll never work on one ticket at the same time. Conflict rule
(docs/integrations/glpi.md#conflicts): before writing, the GLPI ticket is read; when its ``date_mod`` moved
since the link last saw it and a two-way field we are about to write changed there too, GLPI's value is
kept (applied here) and the conflict recorded; the other fields are written.
"""

from __future__ import annotations

import logging
from typing import Any

from psycopg.types.json import Jsonb

from api import sql
from api.auth.models import Principal
from api.db import Conn
from api.errors import Forbidden, InvalidTransition, ValidationFailed
from api.integrations.glpi import mapping, people
from api.integrations.glpi.client import GlpiApi, LegacyClient
from api.integrations.glpi.hl_client import HlClient
from api.integrations.outbound import OutboundGuard
from api.integrations.sync.connectors import Runtime
from api.settings import Settings
from api.tickets import service as tickets
from api.tickets.models import CommentCreate, Status, TicketUpdate, Transition

log = logging.getLogger(__name__)
Q = sql.load("api.integrations.sync")
SOLVED = (5, 6)  # GLPI's solved and closed


def open_client(rt: Runtime, settings: Settings) -> LegacyClient | HlClient:
    """The client of the connector's API (``config.api``): the legacy REST API, or GLPI 11's High-Level API."""
    guard, timeout_s = OutboundGuard(settings.outbound), settings.sync.timeout_s
    if rt.config.api == "hl":
        return HlClient(rt.base_url, client_id=rt.config.client_id or "", client_secret=rt.client_secret or "",
                        username=rt.config.username or "", password=rt.password or "", guard=guard,
                        timeout_s=timeout_s)
    return LegacyClient(rt.base_url, user_token=rt.user_token, app_token=rt.app_token, guard=guard,
                        timeout_s=timeout_s)


async def ensure_link(conn: Conn, glpi: GlpiApi, rt: Runtime, ticket: dict[str, Any]) -> dict[str, Any]:
    """The ticket's link, creating the GLPI ticket first when there is none. A ticket GLPI already has under our
    number (created by an attempt that died before it could record the link) is linked, not created again."""
    link = await (await conn.execute(Q.get_link, {"connector_id": rt.id, "ticket_id": ticket["id"]})).fetchone()
    if link is not None:
        return dict(link)
    remote = await glpi.find_ticket(externalid=ticket["number"])
    if remote is None:
        fields = await people.create_actors(conn, glpi, rt, ticket, mapping.create_input(ticket, rt.config))
        remote = await glpi.get_ticket(await glpi.create_ticket(fields))
    row = await (await conn.execute(Q.insert_link, {
        "connector_id": rt.id, "ticket_id": ticket["id"], "external_id": str(remote["id"]),
        "remote_date_mod": remote.get("date_mod"), "remote_values": Jsonb(mapping.seen(remote))})).fetchone()
    assert row is not None
    return dict(row)


async def push_fields(conn: Conn, glpi: GlpiApi, rt: Runtime, *, ticket: dict[str, Any], link: dict[str, Any],
                      fields: set[str], actor: Principal, reason: str | None = None) -> list[str]:
    """Writes the ticket's ``fields`` (deskmate names) to GLPI; returns the fields left in conflict."""
    external_id = int(link["external_id"])
    remote = await glpi.get_ticket(external_id)
    moved = remote.get("date_mod") != link["remote_date_mod"]
    last_seen = link["remote_values"]
    changed_there = {f.glpi: remote.get(f.glpi) for f in mapping.INBOUND
                     if moved and remote.get(f.glpi) != last_seen.get(f.glpi)}
    write: dict[str, Any] = {}
    conflicts: list[str] = []
    for name in sorted(fields):
        spec = mapping.BY_LOCAL[name]
        if spec.same(ticket, remote.get(spec.glpi), rt.config):
            continue
        if spec.glpi in changed_there:
            conflicts.append(spec.glpi)
            await _conflict(conn, rt, ticket=ticket, spec=spec, remote=remote)
        elif spec.glpi == "status" and ticket["status"] == Status.resolved and remote.get("status") not in SOLVED:
            await glpi.add_solution(external_id, content=reason or "Resolved in deskmate.")  # GLPI: solved
            await conn.execute(Q.update_link, {"id": link["id"], "remote_values": Jsonb({"status": SOLVED[0]}),
                                               "remote_date_mod": None})
        else:
            write[spec.glpi] = spec.out(ticket, rt.config)
    if "content" in write:
        write["content"] = people.keep_note(write["content"], remote.get("content"))
    if write:
        await glpi.update_ticket(external_id, write)
        await conn.execute(Q.update_link, {"id": link["id"], "remote_values": Jsonb(write), "remote_date_mod": None})
    if changed_there:  # GLPI's changes come in now (the conflicting ones: GLPI's value wins), remembered as seen
        await apply_remote(conn, rt, ticket=ticket, link=link, remote=remote, fields=set(changed_there), actor=actor)
    return conflicts


async def _conflict(conn: Conn, rt: Runtime, *, ticket: dict[str, Any], spec: mapping.FieldMap,
                    remote: dict[str, Any]) -> None:
    await conn.execute(Q.insert_conflict, {
        "connector_id": rt.id, "ticket_id": ticket["id"], "field": spec.local,
        "local_value": Jsonb(ticket[spec.local]), "remote_value": Jsonb(remote.get(spec.glpi))})


async def push_comment(conn: Conn, glpi: GlpiApi, rt: Runtime, *, link: dict[str, Any],
                       comment_id: int) -> str:
    """A public comment becomes a follow-up (an internal note: a private one, when the connector allows)."""
    comment = await (await conn.execute(Q.get_comment, {"id": comment_id})).fetchone()
    if comment is None or (comment["internal"] and not rt.config.push_internal_notes):
        return "skipped"
    known = {"connector_id": rt.id, "comment_id": comment_id, "external_id": None}
    if await (await conn.execute(Q.comment_link, known)).fetchone():
        return "done"
    external_id = int(link["external_id"])
    # A follow-up posted by an attempt that died before it recorded the link: link it instead of posting again.
    for followup in await glpi.followups(external_id):
        unlinked = not await (await conn.execute(Q.comment_link, {
            "connector_id": rt.id, "comment_id": None, "external_id": str(followup["id"])})).fetchone()
        if unlinked and followup.get("content") == comment["body"]:
            followup_id = int(followup["id"])
            break
    else:
        followup_id = await glpi.add_followup(external_id, content=comment["body"], private=comment["internal"])
    await conn.execute(Q.insert_comment_link, {"connector_id": rt.id, "comment_id": comment_id,
                                               "external_id": str(followup_id)})
    return "done"


async def apply_remote(conn: Conn, rt: Runtime, *, ticket: dict[str, Any], link: dict[str, Any],
                       remote: dict[str, Any], fields: set[str], actor: Principal) -> None:
    """Applies GLPI's values of ``fields`` (GLPI names) to the ticket through the ticket service, as the sync
    user with ``meta.sync`` (so the change is not pushed back); remembers them as seen."""
    meta = {"sync": rt.name}
    update: dict[str, Any] = {}
    status: Status | None = None
    for spec in (f for f in mapping.INBOUND if f.glpi in fields):
        value = spec.into(remote.get(spec.glpi), rt.config)
        if value is None or spec.same(ticket, remote.get(spec.glpi), rt.config):
            continue
        if spec.glpi == "status":
            status = value
        else:
            update[spec.local] = value
    if update:
        await tickets.update(conn, principal=actor, ref=ticket["id"], data=TicketUpdate(**update), meta=meta)
    if status is not None:
        try:
            await tickets.transition(conn, principal=actor, ref=ticket["id"], meta=meta,
                                     data=Transition(status=status, reason=f"changed in {rt.name}"))
        except (InvalidTransition, Forbidden, ValidationFailed) as exc:
            log.warning("sync %s: GLPI status %s not applied to %s: %s", rt.name, remote.get("status"),
                        ticket["number"], exc.detail)
    await conn.execute(Q.update_link, {"id": link["id"], "remote_date_mod": None, "remote_values": Jsonb(
        {f: remote.get(f) for f in fields})})


async def pull(conn: Conn, glpi: GlpiApi, rt: Runtime, *, link: dict[str, Any], remote: dict[str, Any],
               actor: Principal) -> int:
    """Brings one linked GLPI ticket's changes in: two-way fields changed there, new follow-ups (private ones as
    internal notes). Returns how many follow-ups became comments."""
    ticket = (await tickets.get_or_raise(conn, principal=actor, ref=link["ticket_id"])).model_dump()
    changed = {f.glpi for f in mapping.INBOUND if remote.get(f.glpi) != link["remote_values"].get(f.glpi)}
    for spec in (f for f in mapping.INBOUND if f.glpi in changed):
        changed_here = not spec.same(ticket, link["remote_values"].get(spec.glpi), rt.config)  # not pushed yet
        if changed_here and not spec.same(ticket, remote.get(spec.glpi), rt.config):
            await _conflict(conn, rt, ticket=ticket, spec=spec, remote=remote)
    await people.pull_actors(conn, glpi, rt, link=link, actor=actor)  # first: an assigned status needs its assignee
    if changed:
        await apply_remote(conn, rt, ticket=ticket, link=link, remote=remote, fields=changed, actor=actor)
    added = 0
    for followup in await glpi.followups(int(link["external_id"])):
        known = {"connector_id": rt.id, "comment_id": None, "external_id": str(followup["id"])}
        if await (await conn.execute(Q.comment_link, known)).fetchone():
            continue
        comment = await tickets.add_comment(conn, principal=actor, ref=ticket["id"], meta={"sync": rt.name},
                                            data=CommentCreate(body=str(followup.get("content") or "(empty)"),
                                                               internal=bool(followup.get("is_private"))))
        await conn.execute(Q.insert_comment_link, known | {"comment_id": comment.id})
        added += 1
    await conn.execute(Q.update_link, {"id": link["id"], "remote_date_mod": remote.get("date_mod"),
                                       "remote_values": Jsonb({})})
    return added
