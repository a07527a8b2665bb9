"""Users and groups (docs/integrations/glpi.md#users-and-groups): GLPI users matched by e-mail, GLPI groups by the
connector's ``groups`` map (team slug → GLPI group id).

Outbound, on create: the requester's e-mail → ``_users_id_requester`` (no GLPI user has it: no requester, and the
e-mail is written at the end of the content); the assignee's e-mail → ``_users_id_assign``; the team → its
mapped group, ``_groups_id_assign``. On a later assignment: ``POST Ticket_User/`` / ``Group_Ticket/`` (type 2) and
``DELETE`` of the other assigned ones, unless GLPI's assignment changed since the link saw it (then GLPI's is
kept and the conflict recorded, as for the two-way fields). GLPI's users are found with ``GET UserEmail/?searchText[email]=…``
(``glpi_useremails``: ``users_id``, ``email``), checked exactly here since searchText is a LIKE.

Inbound, on every pull: the ticket's assigned actors (``GET Ticket/:id/Ticket_User`` and ``Ticket/:id/Group_Ticket``,
``type`` 2 = assigned; the newest row wins) are compared with what the link saw last; a new assigned user whose
e-mail (``GET User/:id/UserEmail``) is a deskmate agent's, or a new group the map knows, is applied through the
ticket service as the sync user. Unknown users and groups, and an assignment removed in GLPI, are left alone
and logged.

Look-ups are cached for one connector run: the cache belongs to the client of that run.
"""

from __future__ import annotations

import logging
import weakref
from typing import Any

from psycopg.types.json import Jsonb

from api import sql
from api.auth import service as auth
from api.auth.models import Principal, Role
from api.db import Conn
from api.errors import Forbidden, NotFound, ValidationFailed
from api.integrations.glpi.client import LegacyClient
from api.integrations.glpi.mapping import REQUESTER_NOTE
from api.integrations.sync.connectors import Runtime
from api.tickets import service as tickets
from api.tickets.models import Assignment

log = logging.getLogger(__name__)
Q = sql.load("api.integrations.sync")
REQUESTER, ASSIGNED = 1, 2
SEEN_USER, SEEN_GROUP = "_users_id_assign", "_groups_id_assign"  # in the link's remote_values
_RUN_CACHE: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()


def _cache(client: Any) -> dict[str, Any]:
    return _RUN_CACHE.setdefault(client, {})


def supported(client: Any) -> bool:
    """Whether this client talks to the legacy API, whose item lists (UserEmail, Ticket_User, Group_Ticket) these
    lookups read; the HL API's ticket schema has no actor inputs, so people are not synced through it yet."""
    return isinstance(client, LegacyClient)


async def user_by_email(client: Any, email: str) -> int | None:
    """The GLPI user with this e-mail (any of theirs, case-insensitive), or None."""
    key, cache = "email:" + email.lower(), _cache(client)
    if key not in cache:
        cache[key] = None
        async for row in client.pages("UserEmail/", params={"searchText[email]": email}):
            if str(row.get("email", "")).lower() == email.lower() and row.get("users_id"):
                cache[key] = int(row["users_id"])
                break
    return cache[key]  # type: ignore[no-any-return]


async def email_of(client: Any, user_id: int) -> str | None:
    """A GLPI user's default e-mail (else their first), or None."""
    key, cache = f"user:{user_id}", _cache(client)
    if key not in cache:
        rows = [r async for r in client.pages(f"User/{user_id}/UserEmail", params={})]
        rows.sort(key=lambda r: (not r.get("is_default"), r.get("id", 0)))
        cache[key] = str(rows[0]["email"]) if rows else None
    return cache[key]  # type: ignore[no-any-return]


async def _email(conn: Conn, user_id: int | None) -> str | None:
    if user_id is None:
        return None
    try:
        return (await auth.get_or_raise(conn, user_id=user_id)).email
    except NotFound:
        return None


async def create_actors(conn: Conn, client: Any, rt: Runtime, ticket: dict[str, Any],
                        fields: dict[str, Any]) -> dict[str, Any]:
    """``fields`` (a new GLPI ticket's input) with the requester, the assigned technician and group."""
    if not supported(client):
        return fields
    fields = dict(fields)
    requester = await _email(conn, ticket.get("requester_id"))
    if requester and (found := await user_by_email(client, requester)):
        fields["_users_id_requester"] = found
    elif requester:
        fields["content"] = f"{fields.get('content') or ''}{REQUESTER_NOTE}{requester} (no GLPI user has this e-mail)"
    assignee = await _email(conn, ticket.get("assignee_id"))
    if assignee and (found := await user_by_email(client, assignee)):
        fields["_users_id_assign"] = found
    if ticket.get("team") and (group := rt.config.groups.get(ticket["team"])):
        fields["_groups_id_assign"] = group
    return fields


def keep_note(content: str, remote: Any) -> str:
    """New content for GLPI that keeps the requester note GLPI's content ends with, if any."""
    note = str(remote or "").partition(REQUESTER_NOTE)
    return f"{content}{REQUESTER_NOTE}{note[2]}" if note[1] else content


async def _assigned(client: Any, path: str, key: str) -> int | None:
    rows = [r async for r in client.pages(path, params={}) if int(r.get("type") or 0) == ASSIGNED]
    return int(max(rows, key=lambda r: int(r["id"]))[key]) if rows else None


async def push_assignment(conn: Conn, client: Any, rt: Runtime, *, ticket: dict[str, Any],
                          link: dict[str, Any]) -> None:
    """Makes the GLPI ticket's assigned technician and group deskmate's (one of each: other assigned ones are
    removed). Left as they are: an assignee or team GLPI cannot match, and one that changed in GLPI since the
    link saw it (GLPI's is kept, the conflict recorded, and the pull applies it here)."""
    if not supported(client):
        return
    external_id, seen = int(link["external_id"]), link["remote_values"]
    email = await _email(conn, ticket.get("assignee_id"))
    wanted = {SEEN_USER: await user_by_email(client, email) if email else None,
              SEEN_GROUP: rt.config.groups.get(ticket["team"]) if ticket.get("team") else None}
    now: dict[str, int] = {}
    for seen_key, itemtype, key, local in ((SEEN_USER, "Ticket_User", "users_id", "assignee_id"),
                                           (SEEN_GROUP, "Group_Ticket", "groups_id", "team")):
        rows = [r async for r in client.pages(f"Ticket/{external_id}/{itemtype}", params={})
                if int(r.get("type") or 0) == ASSIGNED]
        current = int(max(rows, key=lambda r: int(r["id"]))[key]) if rows else None
        if seen_key in seen and current != seen[seen_key]:
            await conn.execute(Q.insert_conflict, {"connector_id": rt.id, "ticket_id": ticket["id"], "field": local,
                                                   "local_value": Jsonb(ticket.get(local)),
                                                   "remote_value": Jsonb(current)})
            continue
        target = wanted[seen_key]
        if target is None:
            continue
        for row in rows:
            if int(row[key]) != target:
                await client.request("DELETE", f"{itemtype}/{row['id']}", ok=(200, 204))
        if target not in {int(r[key]) for r in rows}:
            await client.request("POST", f"{itemtype}/", ok=(201,), body={"input": {
                "tickets_id": external_id, key: target, "type": ASSIGNED}})
        now[seen_key] = target
    if now:
        await conn.execute(Q.update_link, {"id": link["id"], "remote_date_mod": None, "remote_values": Jsonb(now)})


async def _agent(conn: Conn, email: str | None) -> int | None:
    user = await auth.get_by_email(conn, email=email) if email else None
    return user.id if user and user.active and user.role in (Role.agent, Role.admin) else None


async def pull_actors(conn: Conn, client: Any, rt: Runtime, *, link: dict[str, Any], actor: Principal) -> None:
    """Applies a changed GLPI assignment (technician, group) to the linked ticket; remembers what it saw."""
    if not supported(client):
        return
    external_id = int(link["external_id"])
    user = await _assigned(client, f"Ticket/{external_id}/Ticket_User", "users_id")
    group = await _assigned(client, f"Ticket/{external_id}/Group_Ticket", "groups_id")
    seen = link["remote_values"]
    if (user, group) == (seen.get(SEEN_USER), seen.get(SEEN_GROUP)):
        return
    ticket = await tickets.get_or_raise(conn, principal=actor, ref=link["ticket_id"])
    assignee = await _agent(conn, await email_of(client, user)) if user and user != seen.get(SEEN_USER) else None
    team = next((slug for slug, gid in rt.config.groups.items() if gid == group), None) \
        if group and group != seen.get(SEEN_GROUP) else None
    if user and user != seen.get(SEEN_USER) and assignee is None:
        log.info("sync %s: GLPI user %s assigned to %s is no deskmate agent: left alone", rt.name, user, ticket.number)
    if group and group != seen.get(SEEN_GROUP) and team is None:
        log.info("sync %s: GLPI group %s of %s is not in the groups map: left alone", rt.name, group, ticket.number)
    if (assignee and assignee != ticket.assignee_id) or (team and team != ticket.team):
        try:
            await tickets.assign(conn, principal=actor, ref=ticket.id, meta={"sync": rt.name},
                                 data=Assignment(assignee_id=assignee or ticket.assignee_id, team=team))
        except (ValidationFailed, Forbidden) as exc:
            log.warning("sync %s: GLPI assignment of %s not applied: %s", rt.name, ticket.number, exc.detail)
    await conn.execute(Q.update_link, {"id": link["id"], "remote_date_mod": None,
                                       "remote_values": Jsonb({SEEN_USER: user, SEEN_GROUP: group})})
