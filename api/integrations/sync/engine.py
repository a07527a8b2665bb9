"""The sync engine's two loops: push a ticket's outbox items, poll a connector for external changes.

Push: each item is handled in its own transaction holding the connector+ticket lock (``lock_pair``), and
marked done there. A transient failure (no answer, timeout, 5xx, 429) leaves the item pending and raises,
so the job is retried with backoff (``PushRetry``) and the items behind it wait, in order. A permanent
failure (403, 401 after a new login, validation) marks that item failed with the external error text and
tells the admins in-app; the ticket's other items and every other ticket go on.

Poll: reads the external tickets changed since the cursor minus the overlap window (the connector kind knows
its clock and its order: GLPI's ``date_mod`` newest first, SolMan's changed-at oldest first); linked tickets
whose version the link has not seen are pulled in. The new cursor is the largest one read; a poll that fails
keeps the old cursor (the overlap makes the next one read again what this one did).

The engine knows connectors only through api/integrations/sync/protocol.py (``kinds.open_session``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import psycopg

from api import sql
from api.alerts import service as alerts
from api.auth.models import Principal
from api.db import Conn
from api.errors import DeskmateError, IntegrationError
from api.integrations.sync import connectors, kinds, outbox
from api.integrations.sync.connectors import Runtime
from api.integrations.sync.protocol import Change, Session
from api.settings import Settings
from api.tickets import service as tickets

log = logging.getLogger(__name__)
Q = sql.load("api.integrations.sync")
ERROR_MAX = 2000


def _text(exc: BaseException) -> str:
    return (exc.detail if isinstance(exc, DeskmateError) else f"{type(exc).__name__}: {exc}")[:ERROR_MAX]


async def push_ticket(conn: Conn, *, connector_id: int, ticket_id: int, settings: Settings) -> int:
    """Pushes the ticket's waiting outbox items to the connector, in order; returns how many were handled.

    Raises IntegrationError (not permanent) when the external system failed transiently: the job is retried."""
    rt = await connectors.runtime(conn, settings, connector_id=connector_id)
    items = [r["id"] for r in await (await conn.execute(Q.pending_items, {
        "connector_id": connector_id, "ticket_id": ticket_id})).fetchall()]
    if not items or not rt.enabled:
        return 0
    actor = await connectors.principal(conn)
    async with kinds.open_session(rt, settings) as session:
        for item_id in items:
            try:
                async with conn.transaction():
                    await _push_item(conn, session, rt, item_id=item_id, ticket_id=ticket_id, actor=actor)
            except psycopg.OperationalError:
                raise
            except DeskmateError as exc:
                if isinstance(exc, IntegrationError) and not exc.permanent:
                    await conn.execute(Q.note_attempt, {"id": item_id, "error": _text(exc)})
                    raise
                await _failed(conn, rt, item_id=item_id, ticket_id=ticket_id, exc=exc)  # it or we refused it
            except Exception as exc:
                await conn.execute(Q.note_attempt, {"id": item_id, "error": _text(exc)})
                raise
    return len(items)


async def _push_item(conn: Conn, session: Session, rt: Runtime[Any], *, item_id: int, ticket_id: int,
                     actor: Principal) -> None:
    await conn.execute(Q.lock_pair, {"connector_id": rt.id, "ticket_id": ticket_id})
    item = await (await conn.execute(Q.lock_item, {"id": item_id})).fetchone()
    if item is None or item["status"] != "pending":
        return  # another worker handled it
    ticket = (await tickets.get_or_raise(conn, principal=actor, ref=ticket_id)).model_dump()
    after: dict[str, Any] = item["after"] or {}
    status = "done"
    if item["kind"] == "commented" and after.get("internal") and not rt.config.push_internal_notes:
        status = "skipped"  # internal notes never leave (and make no external ticket)
    else:
        link = await session.ensure_link(conn, ticket)
        if item["kind"] == "commented":
            status = await session.push_comment(conn, link=link, comment_id=int(after["comment_id"]))
        elif fields := set(outbox.SYNCED & set(after)):
            await session.push_fields(conn, ticket=ticket, link=link, fields=fields, actor=actor,
                                      reason=(item["meta"] or {}).get("reason"))
        if item["kind"] == "assigned":  # the assignee and team, where the kind maps people
            await session.push_assignment(conn, ticket=ticket, link=link)
    await conn.execute(Q.finish_item, {"id": item_id, "status": status, "error": None})


async def _failed(conn: Conn, rt: Runtime[Any], *, item_id: int, ticket_id: int, exc: DeskmateError) -> None:
    """Stops one item for good with the external error; tells the admins (once an hour per connector)."""
    error = _text(exc)
    log.error("sync %s: item %s of ticket %s failed for good: %s", rt.name, item_id, ticket_id, error)
    async with conn.transaction():
        await conn.execute(Q.finish_item, {"id": item_id, "status": "failed", "error": error})
        await conn.execute(Q.set_last_error, {"id": rt.id, "error": error})
        if await (await conn.execute(Q.recent_failure, {"connector_id": rt.id, "id": item_id})).fetchone():
            return
        for admin in await (await conn.execute(Q.admins)).fetchall():
            await alerts.notify(conn, user_id=admin["id"], ticket_id=ticket_id,
                                title=f"Sync to {rt.name} failed for a ticket",
                                body=f"{error} — see GET /api/v1/sync/connectors/{rt.name}/status; "
                                     f"retry with POST /api/v1/sync/outbox/{item_id}/retry")


@dataclass
class Polled:
    read: int = 0
    pulled: int = 0
    comments: int = 0
    cursor: str | None = None
    error: str | None = None


async def poll(conn: Conn, *, connector_id: int, settings: Settings) -> Polled:
    """Reads the connector's changes since its cursor; records the new cursor and the error, if any (the next
    poll tries again: the cursor only moves past what was read)."""
    rt = await connectors.runtime(conn, settings, connector_id=connector_id)
    result = Polled(cursor=rt.inbound_cursor)
    try:
        await _poll(conn, rt, settings, result)
    except IntegrationError as exc:
        result.error = _text(exc)
        result.cursor = rt.inbound_cursor  # what is past the failure was not read yet (in either order)
        log.warning("sync %s: poll failed: %s", rt.name, result.error)
    await conn.execute(Q.polled, {"id": rt.id, "cursor": result.cursor, "error": result.error})
    await outbox.redrive(conn, connector_id=rt.id)
    return result


async def _poll(conn: Conn, rt: Runtime[Any], settings: Settings, result: Polled) -> None:
    actor = await connectors.principal(conn)
    async with kinds.open_session(rt, settings) as session:
        async for change in session.changes(rt.inbound_cursor, page_size=settings.sync.page_size):
            result.read += 1
            result.cursor = max(result.cursor or "", change.cursor) or None
            try:
                await _pull_one(conn, session, rt, change=change, actor=actor, result=result)
            except IntegrationError:
                raise
            except DeskmateError as exc:  # deskmate refused the change (a map naming an unknown category …)
                result.error = f"{rt.kind.upper()} ticket {change.external_id} not applied: {exc.detail}"[:ERROR_MAX]
                log.error("sync %s: %s", rt.name, result.error)


async def _pull_one(conn: Conn, session: Session, rt: Runtime[Any], *, change: Change, actor: Principal,
                    result: Polled) -> None:
    """Pulls one external ticket from the list when it is linked and changed since the link last saw it."""
    async with conn.transaction():
        link = await (await conn.execute(Q.link_by_external, {
            "connector_id": rt.id, "external_id": change.external_id})).fetchone()
        if link is None:
            return  # not ours: backfill imports those
        await conn.execute(Q.lock_pair, {"connector_id": rt.id, "ticket_id": link["ticket_id"]})
        link = await (await conn.execute(Q.get_link, {"connector_id": rt.id, "ticket_id": link["ticket_id"]})).fetchone()
        if link is None or link["remote_date_mod"] == change.version:
            return  # seen already (the overlap window reads it again)
        result.comments += await session.pull(conn, link=dict(link), change=change, actor=actor)
        result.pulled += 1


async def pull_external(conn: Conn, *, connector_id: int, external_id: str, settings: Settings) -> Polled:
    """Pulls one external ticket now (a verified webhook named it), exactly as the poll pulls it: under the
    connector+ticket lock, only when linked and changed since the link last saw it. The poll's cursor stays."""
    rt = await connectors.runtime(conn, settings, connector_id=connector_id)
    result = Polled()
    link = await (await conn.execute(Q.link_by_external, {"connector_id": rt.id, "external_id": external_id})).fetchone()
    if not rt.enabled or link is None:
        return result  # not ours: nothing to ask
    actor = await connectors.principal(conn)
    async with kinds.open_session(rt, settings) as session:
        change = await session.change(external_id)
        if change is None:
            return result
        result.read = 1
        await _pull_one(conn, session, rt, change=change, actor=actor, result=result)
    return result
