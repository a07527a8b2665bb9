"""Ticket rules: create, read with role scoping, update, transition, assign, comment.

Every change locks the ticket row, checks the caller's rights and writes its audit event in the
same transaction, so the event log always matches the ticket.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from psycopg.errors import ForeignKeyViolation, UniqueViolation
from psycopg.pq import TransactionStatus
from psycopg.types.json import Jsonb

from api import idempotency, pagination, sql
from api.auth.models import Principal, Role
from api.csat import queue as csat_queue
from api.db import Conn
from api.errors import (
    Conflict,
    Forbidden,
    InvalidTransition,
    NotFound,
    PreconditionFailed,
    ValidationFailed,
)
from api.tickets.models import (
    REQUESTER_FIELDS,
    REQUESTER_TRANSITIONS,
    TRANSITIONS,
    Assignment,
    Category,
    CategoryCreate,
    Comment,
    CommentCreate,
    Event,
    Resolution,
    Status,
    Ticket,
    TicketCreate,
    TicketPage,
    TicketUpdate,
    Transition,
    priority,
)
from api.triage import queue as triage_queue

Q = sql.load("api.tickets")
CREATE_SCOPE = "tickets.create"
TICKET_CURSOR, COMMENT_CURSOR, EVENT_CURSOR = "t", "c", "e"
AUDITED = ("title", "description", "category_id", "urgency", "impact", "priority", "status",
           "team_id", "assignee_id", "integration_metadata", "resolution")


@dataclass(frozen=True)
class Filters:
    status: list[Status] | None = None
    team_id: int | None = None
    assignee_id: int | None = None
    unassigned: bool = False
    requester_id: int | None = None
    priority: int | None = None
    q: str | None = None
    in_teams: list[int] | None = None
    category: str | None = None
    due_before: datetime | None = None


def _ref(ref: str | int) -> dict[str, Any]:
    text = str(ref)
    return {"id": int(text) if text.isdigit() else None, "number": text.upper()}


def can_see(p: Principal, t: dict[str, Any]) -> bool:
    if p.role is Role.admin or t["requester_id"] == p.id:
        return True
    return p.role is Role.agent and (
        t["team_id"] in p.team_ids or t["assignee_id"] in (p.id, None)
    )


def visibility(p: Principal) -> dict[str, Any]:
    """``can_see`` as query parameters, for SQL that filters tickets itself: ``(%(see_all)s OR t.requester_id =
    %(uid)s OR (%(is_agent)s AND (t.team_id = ANY(%(team_ids)s) OR t.assignee_id = %(uid)s OR t.assignee_id IS
    NULL)))``."""
    return {"see_all": p.role is Role.admin, "is_agent": p.role is Role.agent, "uid": p.id,
            "team_ids": list(p.team_ids)}


def can_work(p: Principal, t: dict[str, Any]) -> bool:
    """Staff rights on this ticket: admins always, agents on their teams' or their own tickets."""
    return p.role is Role.admin or (
        p.role is Role.agent and (t["team_id"] in p.team_ids or t["assignee_id"] == p.id)
    )


async def _slug_id(conn: Conn, query: str, slug: str | None, what: str) -> int | None:
    if slug is None:
        return None
    row = await (await conn.execute(query, {"slug": slug})).fetchone()
    if row is None:
        raise ValidationFailed(f"Unknown {what} {slug!r}.")
    return int(row["id"])


async def create(
    conn: Conn, *, principal: Principal, data: TicketCreate, idempotency_key: str | None = None
) -> tuple[Ticket, bool]:
    """Creates a ticket; returns it and whether it is new (False: replay of an idempotent request).

    One statement (``create_ticket``) writes the ticket, its event, the key's claim and the triage job, so a
    create in autocommit costs one round trip and is atomic by itself; inside a caller's transaction it runs
    in a savepoint, as before."""
    if not principal.is_staff and (data.requester_id not in (None, principal.id) or data.team):
        raise Forbidden("Only agents and admins may open tickets for someone else or pick a team.")
    payload = data.model_dump(mode="json") if idempotency_key else None
    params = _create_params(principal, data) | {
        "scope": CREATE_SCOPE, "key": idempotency_key,
        "request_hash": idempotency.fingerprint(payload) if idempotency_key else None,
    }
    try:
        async with _atomic(conn):
            row = await (await conn.execute(Q.create_ticket, params)).fetchone()
    except ForeignKeyViolation as exc:  # the only user reference a caller picks
        raise ValidationFailed(f"No user {data.requester_id} to open the ticket for.") from exc
    except UniqueViolation as exc:  # a request with the same key committed while this one ran
        if idempotency_key is None or exc.diag.constraint_name != idempotency.CONSTRAINT:
            raise
        row = {"key_new": False}
    assert row is not None
    if not row.get("key_new", True):
        assert idempotency_key is not None  # without a key, key_new is always true
        earlier = await idempotency.replay(conn, user_id=principal.id, scope=CREATE_SCOPE, key=idempotency_key,
                                           payload=payload)
        return await get_or_raise(conn, principal=principal, ref=earlier), False
    if not row["category_known"]:
        raise ValidationFailed(f"Unknown category {data.category!r}.")
    if not row["team_known"]:
        raise ValidationFailed(f"Unknown team {data.team!r}.")
    return Ticket(**row), True


def _create_params(p: Principal, data: TicketCreate) -> dict[str, Any]:
    return data.model_dump(exclude={"category", "team"}) | triage_queue.for_new_ticket() | {
        "category": data.category, "team": data.team, "priority": priority(data.urgency, data.impact),
        "requester_id": data.requester_id or p.id, "integration_metadata": Jsonb(data.integration_metadata),
        "actor_id": p.id, "meta": Jsonb(_via(p)),
    }


def _atomic(conn: Conn) -> AbstractAsyncContextManager[object]:
    """Nothing in autocommit (one statement is its own transaction); a savepoint inside the caller's transaction."""
    return nullcontext() if conn.info.transaction_status is TransactionStatus.IDLE else conn.transaction()


def _via(p: Principal) -> dict[str, Any]:
    return {"via_service_id": p.via_service_id} if p.via_service_id else {}


async def get_or_raise(conn: Conn, *, principal: Principal, ref: str | int) -> Ticket:
    """The ticket, or NotFound when it doesn't exist or the caller may not see it."""
    row = await (await conn.execute(Q.get_ticket, _ref(ref))).fetchone()
    if row is None or not can_see(principal, row):
        raise NotFound(f"No ticket {ref} that you can see.")
    return Ticket(**row)


async def list_tickets(
    conn: Conn, *, principal: Principal, filters: Filters, cursor: str | None = None, limit: int = 25
) -> TicketPage:
    params = {
        **filters.__dict__,
        **visibility(principal),
        "before_id": pagination.decode(TICKET_CURSOR, cursor),
        "limit": limit + 1,
    }
    rows = await (await conn.execute(Q.list_tickets, params)).fetchall()
    items, next_cursor = pagination.page([Ticket(**r) for r in rows], limit=limit, kind=TICKET_CURSOR)
    return TicketPage(items=items, next_cursor=next_cursor)


async def count_queues(conn: Conn, *, principal: Principal, due_before: datetime) -> dict[str, int]:
    """Open tickets the caller may see: theirs, their teams', unassigned, due before ``due_before``, pending."""
    row = await (await conn.execute(Q.count_queues, {
        "uid": principal.id, "team_ids": list(principal.team_ids), "see_all": principal.role is Role.admin,
        "due_before": due_before})).fetchone()
    assert row is not None
    return {k: int(v) for k, v in row.items()}


async def _lock(conn: Conn, principal: Principal, ref: str | int) -> dict[str, Any]:
    row = await (await conn.execute(Q.lock_ticket, _ref(ref))).fetchone()
    if row is None or not can_see(principal, row):
        raise NotFound(f"No ticket {ref} that you can see.")
    return dict(row)


async def _save(conn: Conn, p: Principal, before: dict[str, Any], after: dict[str, Any],
                kind: str, meta: dict[str, Any] | None = None) -> Ticket:
    """Writes a changed ticket and its event; the caller holds the row lock in a transaction."""
    changed = {k: after[k] for k in AUDITED if after[k] != before[k]}
    if changed:
        params = after | {"integration_metadata": Jsonb(after["integration_metadata"])}
        await conn.execute(Q.update_ticket, params)
        await conn.execute(Q.insert_event, {
            "ticket_id": before["id"], "actor_id": p.id, "kind": kind,
            "before": Jsonb({k: before[k] for k in changed}), "after": Jsonb(changed),
            "meta": Jsonb((meta or {}) | _via(p)),
        })
        await triage_queue.ticket_changed(conn, ticket_id=before["id"])
    return await get_or_raise(conn, principal=p, ref=before["id"])


async def update(
    conn: Conn, *, principal: Principal, ref: str | int, data: TicketUpdate, if_version: int | None = None,
    meta: dict[str, Any] | None = None,
) -> Ticket:
    """Changes the ticket's fields; ``meta`` goes on the event (``{"sync": connector}``: the change came from there)."""
    fields = data.model_dump(exclude_unset=True)
    async with conn.transaction():
        row = await _lock(conn, principal, ref)
        if not can_work(principal, row) and not (
            row["requester_id"] == principal.id and set(fields) <= REQUESTER_FIELDS
        ):
            raise Forbidden("You may change only the title and description of your own tickets.")
        if if_version is not None and if_version != row["version"]:
            raise PreconditionFailed(f"The ticket is at version {row['version']}, not {if_version}; reload it.")
        after = row | {k: v for k, v in fields.items() if k not in ("category", "team")}
        if "category" in fields:
            after["category_id"] = await _slug_id(conn, Q.category_id, data.category, "category")
        if "team" in fields:
            after["team_id"] = await _slug_id(conn, Q.team_id, data.team, "team")
        after["priority"] = priority(after["urgency"], after["impact"])
        return await _save(conn, principal, row, after, "updated", meta)


def _check_transition(p: Principal, row: dict[str, Any], data: Transition) -> None:
    current = Status(row["status"])
    if data.expected_status and data.expected_status is not current:
        raise InvalidTransition(f"The ticket is {current}, not {data.expected_status}; reload it.")
    if data.status not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(TRANSITIONS[current])) or "nothing (it is final)"
        raise InvalidTransition(f"A {current} ticket cannot become {data.status}; it can become {allowed}.")
    if not can_work(p, row) and data.status not in REQUESTER_TRANSITIONS.get(current, ()):
        raise Forbidden(f"Only the service desk can move a ticket from {current} to {data.status}.")
    if data.status in (Status.assigned, Status.in_progress) and row["assignee_id"] is None \
            and current is not Status.resolved:
        raise InvalidTransition(f"Assign the ticket before moving it to {data.status}.")


async def transition(conn: Conn, *, principal: Principal, ref: str | int, data: Transition,
                     resolution: Resolution = "agent", meta: dict[str, Any] | None = None) -> Ticket:
    """Moves the ticket to ``data.status``; a resolution records ``resolution`` ('auto' only from a verified
    workflow run, api/workflows), a reopen clears it. ``meta`` goes on the event with the reason."""
    async with conn.transaction():
        row = await _lock(conn, principal, ref)
        _check_transition(principal, row, data)
        target = data.status
        if target is Status.in_progress and row["assignee_id"] is None:
            target = Status.new  # a reopened ticket nobody holds goes back to the queue
        after = row | {"status": target}
        if target is Status.resolved:
            after |= {"resolved_at": datetime.now(UTC), "resolution": resolution}
        if target is Status.closed:
            after["closed_at"] = datetime.now(UTC)
        if row["status"] == Status.resolved and target in (Status.new, Status.in_progress):
            after |= {"resolved_at": None, "resolution": None}
        if target is Status.resolved:  # the requester is asked how it went, once per ticket (api/csat)
            await csat_queue.ticket_resolved(conn, ticket_id=row["id"], resolution=resolution, resolver_id=principal.id)
        return await _save(conn, principal, row, after, "status_changed", (meta or {}) | {"reason": data.reason})


async def assign(conn: Conn, *, principal: Principal, ref: str | int, data: Assignment,
                 meta: dict[str, Any] | None = None) -> Ticket:
    async with conn.transaction():
        row = await _lock(conn, principal, ref)
        taking = data.assignee_id == principal.id and row["assignee_id"] is None and principal.role is Role.agent
        if not (can_work(principal, row) or taking):
            raise Forbidden("Agents assign their teams' tickets, or take an unassigned one themselves.")
        after = dict(row)
        if data.team is not None:
            after["team_id"] = await _slug_id(conn, Q.team_id, data.team, "team")
        if data.assignee_id is not None:
            agent = await (await conn.execute(Q.assignable_agent, {"id": data.assignee_id})).fetchone()
            if agent is None:
                raise ValidationFailed(f"User {data.assignee_id} is not an active agent.")
            if after["team_id"] not in agent["team_ids"] and agent["team_ids"]:
                after["team_id"] = agent["team_ids"][0] if data.team is None else after["team_id"]
        after["assignee_id"] = data.assignee_id
        if row["status"] == Status.new and data.assignee_id is not None:
            after["status"] = Status.assigned
        elif row["status"] == Status.assigned and data.assignee_id is None:
            after["status"] = Status.new
        return await _save(conn, principal, row, after, "assigned", meta)


async def add_comment(conn: Conn, *, principal: Principal, ref: str | int, data: CommentCreate,
                      meta: dict[str, Any] | None = None) -> Comment:
    """Adds a comment or internal note; ``meta`` goes on the event."""
    async with conn.transaction():
        row = await _lock(conn, principal, ref)
        if data.internal and not can_work(principal, row):
            raise Forbidden("Only the service desk writes internal notes.")
        if not can_work(principal, row) and row["requester_id"] != principal.id:
            raise Forbidden("Comment on tickets of your teams, or take the ticket first.")
        comment = await (await conn.execute(Q.insert_comment, {
            "ticket_id": row["id"], "author_id": principal.id, "body": data.body, "internal": data.internal,
        })).fetchone()
        assert comment is not None
        await conn.execute(Q.insert_event, {
            "ticket_id": row["id"], "actor_id": principal.id, "kind": "commented", "before": None,
            "after": Jsonb({"comment_id": comment["id"], "internal": data.internal}),
            "meta": Jsonb((meta or {}) | _via(principal)),
        })
        await triage_queue.ticket_changed(conn, ticket_id=row["id"])
    return Comment(**comment)


async def list_comments(conn: Conn, *, principal: Principal, ref: str | int, cursor: str | None = None,
                        limit: int = 100) -> tuple[list[Comment], str | None]:
    """A page of the ticket's comments, oldest first, and the cursor to the next page."""
    ticket = await get_or_raise(conn, principal=principal, ref=ref)
    rows = await (await conn.execute(Q.list_comments, {
        "ticket_id": ticket.id, "with_internal": can_work(principal, ticket.model_dump()),
        "after_id": pagination.decode(COMMENT_CURSOR, cursor), "limit": limit + 1})).fetchall()
    return pagination.page([Comment(**r) for r in rows], limit=limit, kind=COMMENT_CURSOR)


async def list_events(conn: Conn, *, principal: Principal, ref: str | int, cursor: str | None = None,
                      limit: int = 100) -> tuple[list[Event], str | None]:
    """A page of the ticket's audit trail, oldest first, and the cursor to the next page."""
    ticket = await get_or_raise(conn, principal=principal, ref=ref)
    if not principal.is_staff:
        raise Forbidden("The audit trail is for the service desk.")
    rows = await (await conn.execute(Q.list_events, {
        "ticket_id": ticket.id, "after_id": pagination.decode(EVENT_CURSOR, cursor), "limit": limit + 1})).fetchall()
    return pagination.page([Event(**r) for r in rows], limit=limit, kind=EVENT_CURSOR)


async def list_categories(conn: Conn) -> list[Category]:
    return [Category(**r) for r in await (await conn.execute(Q.list_categories)).fetchall()]


async def create_category(conn: Conn, *, data: CategoryCreate) -> Category:
    await _slug_id(conn, Q.team_id, data.default_team, "team")
    try:
        row = await (await conn.execute(Q.create_category, data.model_dump())).fetchone()
    except UniqueViolation as exc:
        raise Conflict(f"A category with slug {data.slug!r} already exists.") from exc
    return Category(**row)  # type: ignore[arg-type]


# ---------------------------------------------------------------- SLA due times and SLA events
# Called by the SLA clock (api/sla/clock.py), which owns no ticket columns: the due times and the
# warning/breach events are written here, with their audit event and triage job like every change.

def _iso(values: dict[str, datetime | None]) -> dict[str, str | None]:
    return {k: v.isoformat() if v else None for k, v in values.items()}


async def set_sla_due(conn: Conn, *, ticket_id: int, respond_due_at: datetime | None,
                      resolve_due_at: datetime | None, actor_id: int) -> bool:
    """Shows the SLA clock's due times on the ticket with an 'sla_due_changed' event; False when unchanged."""
    async with conn.transaction():
        row = await (await conn.execute(Q.lock_sla_due, {"id": ticket_id})).fetchone()
        if row is None:
            raise NotFound(f"No ticket {ticket_id}.")
        before = {"respond_due_at": row["respond_due_at"], "resolve_due_at": row["resolve_due_at"]}
        after = {"respond_due_at": respond_due_at, "resolve_due_at": resolve_due_at}
        if before == after:
            return False
        await conn.execute(Q.set_sla_due, after | {"id": ticket_id})
        await conn.execute(Q.insert_event, {
            "ticket_id": ticket_id, "actor_id": actor_id, "kind": "sla_due_changed",
            "before": Jsonb(_iso(before)), "after": Jsonb(_iso(after)), "meta": Jsonb({})})
        await triage_queue.ticket_changed(conn, ticket_id=ticket_id)
    return True


async def record_sla_event(conn: Conn, *, ticket_id: int, kind: str, target: str, due_at: datetime,
                           actor_id: int) -> None:
    """Writes an SLA warning or breach ('sla_warning' / 'sla_breach') into the ticket's audit trail."""
    if kind not in ("sla_warning", "sla_breach"):
        raise ValueError(f"not an SLA event: {kind!r}")
    async with conn.transaction():
        await conn.execute(Q.insert_event, {
            "ticket_id": ticket_id, "actor_id": actor_id, "kind": kind, "before": None,
            "after": Jsonb({"target": target, "due_at": due_at.isoformat()}), "meta": Jsonb({})})
        await triage_queue.ticket_changed(conn, ticket_id=ticket_id)


async def record_workflow_event(conn: Conn, *, ticket_id: int, actor_id: int, after: dict[str, Any]) -> None:
    """Writes one workflow step ('workflow_step': step, kind, status, summary) into the ticket's audit trail.

    The ticket itself does not change, so triage is not queued (api/workflows calls this once per step)."""
    await conn.execute(Q.insert_event, {"ticket_id": ticket_id, "actor_id": actor_id, "kind": "workflow_step",
                                        "before": None, "after": Jsonb(after), "meta": Jsonb({})})
