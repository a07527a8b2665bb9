"""Ticket create in one statement: the triage job it queues is procrastinate's own, it is atomic alone and inside a
caller's transaction, refused input claims no key, and a request racing another with the same key gets the
winner's ticket (or creates its own when the winner rolls back)."""

from __future__ import annotations

import asyncio
import uuid

import psycopg
import pytest
from fakes.waiting import until
from psycopg.rows import dict_row

from api import jobs
from api.auth.models import Role
from api.errors import IdempotencyMismatch, ValidationFailed
from api.tickets import service as tickets
from api.tickets.models import TicketCreate
from api.triage import queue as triage_queue

JOB_COLUMNS = "queue_name, task_name, priority, lock, queueing_lock, args, scheduled_at, status"


async def _jobs(conn, ticket_id: int) -> list[dict]:
    return list(await (await conn.execute(
        f"SELECT {JOB_COLUMNS} FROM procrastinate_jobs WHERE args->>'ticket_id' = %s ORDER BY id",
        (str(ticket_id),))).fetchall())


async def _count(conn, query: str, *args: object) -> int:
    return (await (await conn.execute(query, args)).fetchone())["n"]


async def test_the_triage_job_of_a_create_is_the_one_procrastinate_queues_for_a_change(conn, make_actor, principal_of):
    principal = await principal_of(await make_actor())
    ticket, created = await tickets.create(conn, principal=principal, data=TicketCreate(title="Dock not charging"))
    assert created
    await triage_queue.ticket_changed(conn, ticket_id=ticket.id)  # the same job, through procrastinate's defer
    by_create, by_procrastinate = await _jobs(conn, ticket.id)
    assert by_create == by_procrastinate
    assert by_create["task_name"] == "triage.process_ticket" and by_create["queue_name"] == "triage"
    assert by_create["lock"] == f"ticket:{ticket.id}" and by_create["args"] == {"ticket_id": ticket.id}
    assert by_create["status"] == "todo"


async def test_a_create_with_triage_off_queues_nothing(conn, make_actor, principal_of, settings):
    principal = await principal_of(await make_actor())
    queue = jobs.open_queue(settings.model_copy(update={"triage_enabled": False}))
    try:
        ticket, _ = await tickets.create(conn, principal=principal, data=TicketCreate(title="quiet"))
    finally:
        jobs.close_queue(queue)
    assert await _jobs(conn, ticket.id) == []
    assert await _count(conn, "SELECT count(*) AS n FROM ticket_events WHERE ticket_id = %s", ticket.id) == 1


async def test_a_create_inside_a_callers_transaction_rolls_back_with_it(conn, make_actor, principal_of):
    principal = await principal_of(await make_actor())
    key = uuid.uuid4().hex

    class Undo(Exception):
        pass

    with pytest.raises(Undo):
        async with conn.transaction():
            ticket, _ = await tickets.create(conn, principal=principal, data=TicketCreate(title="Undone"),
                                             idempotency_key=key)
            raise Undo
    assert await _count(conn, "SELECT count(*) AS n FROM tickets WHERE id = %s", ticket.id) == 0
    assert await _count(conn, "SELECT count(*) AS n FROM ticket_events WHERE ticket_id = %s", ticket.id) == 0
    assert await _jobs(conn, ticket.id) == []
    assert await _count(conn, "SELECT count(*) AS n FROM idempotency_keys WHERE key = %s", key) == 0


@pytest.mark.parametrize(("bad", "error"), [({"team": "no-such-team"}, "Unknown team 'no-such-team'"),
                                            ({"requester_id": 2**62}, "No user")])  # a foreign key violation
async def test_a_refused_create_leaves_the_callers_transaction_usable(conn, make_actor, principal_of, bad, error):
    """The statement runs in a savepoint inside a transaction: the caller may catch the error and go on."""
    agent = await principal_of(await make_actor(Role.agent))
    async with conn.transaction():
        with pytest.raises(ValidationFailed, match=error):
            await tickets.create(conn, principal=agent, data=TicketCreate(title="Lost", **bad))
        ticket, created = await tickets.create(conn, principal=agent, data=TicketCreate(title="Found"))
    assert created and await _count(conn, "SELECT count(*) AS n FROM tickets WHERE id = %s", ticket.id) == 1


@pytest.mark.parametrize("bad", [{"category": "no-such-category"}, {"team": "no-such-team"}])
async def test_refused_input_creates_nothing_and_claims_no_key(conn, make_actor, principal_of, bad):
    agent = await principal_of(await make_actor(Role.agent))
    key = uuid.uuid4().hex
    before = await _count(conn, "SELECT count(*) AS n FROM tickets WHERE requester_id = %s", agent.id)
    with pytest.raises(ValidationFailed, match="Unknown (category|team)"):
        await tickets.create(conn, principal=agent, data=TicketCreate(title="Badly filed", **bad), idempotency_key=key)
    assert await _count(conn, "SELECT count(*) AS n FROM tickets WHERE requester_id = %s", agent.id) == before
    assert await _count(conn, "SELECT count(*) AS n FROM idempotency_keys WHERE key = %s", key) == 0
    fixed, created = await tickets.create(conn, principal=agent, data=TicketCreate(title="Filed again"),
                                          idempotency_key=key)  # the key is still free
    assert created and fixed.title == "Filed again"


async def test_a_replay_returns_the_first_ticket_and_queues_nothing_more(conn, make_actor, principal_of):
    principal = await principal_of(await make_actor())
    key, data = uuid.uuid4().hex, TicketCreate(title="Headset crackles", urgency=2)
    first, created = await tickets.create(conn, principal=principal, data=data, idempotency_key=key)
    again, replayed_created = await tickets.create(conn, principal=principal, data=data, idempotency_key=key)
    assert created and not replayed_created and again == first
    assert len(await _jobs(conn, first.id)) == 1
    with pytest.raises(IdempotencyMismatch):
        await tickets.create(conn, principal=principal, data=TicketCreate(title="Other"), idempotency_key=key)


async def _blocked_on_a_lock(conn, pid: int) -> int:
    return await _count(conn, "SELECT count(*) AS n FROM pg_stat_activity WHERE pid = %s AND wait_event_type = 'Lock'",
                        pid)


@pytest.mark.parametrize("winner_commits", [True, False])
async def test_a_create_racing_one_with_the_same_key(database_url, conn, make_actor, principal_of, winner_commits):
    """The second waits on the key's unique index: it replays the first's ticket when that commits, and
    creates its own when that rolls back."""
    principal = await principal_of(await make_actor())
    key, data = uuid.uuid4().hex, TicketCreate(title="Keyboard types twice")
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True, row_factory=dict_row) as first, \
            await psycopg.AsyncConnection.connect(database_url, autocommit=True, row_factory=dict_row) as second:
        async with first.transaction():
            winner, _ = await tickets.create(first, principal=principal, data=data, idempotency_key=key)
            racing = asyncio.create_task(tickets.create(second, principal=principal, data=data, idempotency_key=key))
            await until(lambda: _blocked_on_a_lock(conn, second.info.backend_pid), timeout_s=30, every_s=0.01,
                        what="the racing create to wait on the key")
            if not winner_commits:
                raise psycopg.Rollback()
        ticket, created = await asyncio.wait_for(racing, timeout=30)
    if winner_commits:
        assert (ticket.id, created) == (winner.id, False)
    else:
        assert created and ticket.id != winner.id
        assert await _count(conn, "SELECT count(*) AS n FROM tickets WHERE id = %s", winner.id) == 0
    assert await _count(conn, "SELECT count(*) AS n FROM tickets WHERE requester_id = %s", principal.id) == 1
    assert len(await _jobs(conn, ticket.id)) == 1
