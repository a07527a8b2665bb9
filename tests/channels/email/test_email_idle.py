"""The IDLE supervisor (api/channels/email/idle.py) against the real Dovecot: new mail becomes one ticket without the
minute poll, also when a poll reads it at the same time; a connection the server drops is opened again; a server
without IDLE is left to the poll; mailboxes come and go with the admin API; the worker's hook stops it and no thread
stays behind; ``deskmate worker`` itself takes mail through IDLE and stops on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import psycopg
import psycopg_pool
import pytest
from email_support import DeskMailbox, make_mailbox, message
from fakes.waiting import until
from fakes.workers import worker_processes
from psycopg.rows import dict_row

from api.auth.models import Role
from api.channels.email import idle, imap, ingest, service
from api.channels.email import tasks as email_tasks
from api.channels.email.models import MailboxPatch
from api.channels.email.settings import EmailSettings
from api.jobs import registry
from api.settings import Settings

DEADLINE_S = 60  # a loaded machine; every wait ends as soon as its condition holds
T = TypeVar("T")


def asking(check: Callable[[], T]) -> Callable[[], Awaitable[T]]:
    """``check`` as the coroutine function ``until`` asks."""
    async def ask() -> T:
        return check()
    return ask


@pytest.fixture
def idle_settings(mail_settings: Settings) -> Settings:
    """The mail settings with the mailbox list re-read every 0.1 s."""
    return mail_settings.model_copy(update={"email": mail_settings.email.model_copy(update={"idle_refresh_s": 0.1})})


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[psycopg_pool.AsyncConnectionPool[Any]]:
    """A pool like the worker's (autocommit, dict rows)."""
    pool = psycopg_pool.AsyncConnectionPool(database_url, min_size=1, max_size=6, open=False,
                                            kwargs={"autocommit": True, "row_factory": dict_row})
    await pool.open(wait=True, timeout=30)
    yield pool
    await pool.close()


@asynccontextmanager
async def supervising(pool: Any, settings: Settings) -> AsyncIterator[idle.Supervisor]:
    """A running supervisor, stopped (and awaited) at the end."""
    supervisor, stop = idle.Supervisor(pool, settings), asyncio.Event()
    running = asyncio.create_task(supervisor.run(stop))
    try:
        yield supervisor
    finally:
        stop.set()
        await asyncio.wait_for(running, DEADLINE_S)


async def only_mailbox(conn: psycopg.AsyncConnection, settings: Settings, dovecot: Any) -> DeskMailbox:
    """A fresh mailbox, the only enabled one (another test's leftover would get a watcher too)."""
    box = await make_mailbox(conn, settings, dovecot)
    await conn.execute("UPDATE mailboxes SET enabled = false WHERE id <> %s", (box.id,))
    return box


async def polled(conn: psycopg.AsyncConnection, box: DeskMailbox) -> bool:
    """Whether the mailbox has been read (an IDLE connection reads it once when it is up)."""
    row = await (await conn.execute("SELECT last_polled_at FROM mailboxes WHERE id = %s", (box.id,))).fetchone()
    return row["last_polled_at"] is not None


async def idling(conn: psycopg.AsyncConnection, supervisor: idle.Supervisor, box: DeskMailbox) -> idle.Watcher:
    """The box's watcher once its server said it offers IDLE and the catch-up read after connecting is done."""
    async def ready() -> idle.Watcher | None:
        watcher = supervisor.watchers.get(box.id)
        return watcher if watcher is not None and watcher.offers_idle and await polled(conn, box) else None
    return await until(ready, timeout_s=DEADLINE_S, what="the IDLE connection is up", every_s=0.05)


async def taken(conn: psycopg.AsyncConnection, box: DeskMailbox, message_id: str) -> dict[str, Any]:
    """The message's email_messages row once it has an outcome."""
    async def row() -> dict[str, Any] | None:
        cur = await conn.execute("SELECT * FROM email_messages WHERE mailbox_id = %s AND message_id = %s "
                                 "AND outcome IS NOT NULL", (box.id, message_id))
        return await cur.fetchone()
    return await until(row, timeout_s=DEADLINE_S, what=f"{message_id} is taken", every_s=0.05)


async def tickets_of(conn: psycopg.AsyncConnection, message_id: str) -> list[int]:
    cur = await conn.execute("SELECT id FROM tickets WHERE source_reference = %s", (message_id,))
    return [r["id"] for r in await cur.fetchall()]


def idle_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(idle.THREAD_PREFIX)]


async def test_new_mail_becomes_a_ticket_through_idle_without_the_poll(conn, pool, idle_settings, dovecot, make_actor):
    alice = await make_actor(Role.employee)
    box = await only_mailbox(conn, idle_settings, dovecot)
    raw, mid = message(sender=alice.user.email, subject="Printer jammed", body="The printer on floor 3 is jammed.")
    async with supervising(pool, idle_settings) as supervisor:
        await idling(conn, supervisor, box)
        await asyncio.to_thread(box.append, raw)  # no poll runs: only the server's EXISTS can bring it in
        row = await taken(conn, box, mid)

    assert row["outcome"] == "ticket"
    assert await tickets_of(conn, mid) == [row["ticket_id"]]


async def test_idle_and_polls_at_once_make_one_ticket(conn, pool, idle_settings, dovecot, make_actor):
    alice = await make_actor(Role.employee)
    box = await only_mailbox(conn, idle_settings, dovecot)
    raw, mid = message(sender=alice.user.email, subject="VPN drops", body="The VPN drops every hour.")

    async def poll() -> ingest.PollResult:
        async with pool.connection() as c:
            return await ingest.poll_mailbox(c, idle_settings, mailbox_id=box.id)

    async with supervising(pool, idle_settings) as supervisor:
        await idling(conn, supervisor, box)
        await asyncio.to_thread(box.append, raw)
        polls = await asyncio.gather(poll(), poll(), poll())  # beside the read the server's EXISTS starts
        row = await taken(conn, box, mid)

    assert row["outcome"] == "ticket" and await tickets_of(conn, mid) == [row["ticket_id"]]
    cur = await conn.execute("SELECT count(*) AS n FROM email_messages WHERE message_id = %s", (mid,))
    assert (await cur.fetchone())["n"] == 1
    assert sum(p.outcomes.get("ticket", 0) for p in polls) <= 1 and all(p.outcomes.get("duplicate") is None
                                                                         for p in polls)



async def test_a_dropped_idle_connection_is_opened_again(conn, pool, idle_settings, dovecot, make_actor):
    alice = await make_actor(Role.employee)
    box = await only_mailbox(conn, idle_settings, dovecot)
    raw, mid = message(sender=alice.user.email, subject="After the drop", body="Mail after the server dropped us.")
    async with supervising(pool, idle_settings) as supervisor:
        watcher = await idling(conn, supervisor, box)
        await asyncio.to_thread(dovecot.kick, box.user)  # the server ends the IDLE connection
        await asyncio.to_thread(box.append, raw)  # only a new connection (its catch-up read, its IDLE) takes it
        row = await taken(conn, box, mid)
        assert supervisor.watchers[box.id] is watcher and watcher.thread.is_alive()

    assert row["outcome"] == "ticket" and await tickets_of(conn, mid) == [row["ticket_id"]]

async def test_a_server_without_idle_is_left_to_the_poll(conn, pool, idle_settings, dovecot, make_actor, monkeypatch):
    waits: list[float] = []
    monkeypatch.setattr(imap.IdleConnection, "offers_idle", lambda self: False)
    monkeypatch.setattr(imap.IdleConnection, "wait", lambda self, *, timeout: waits.append(timeout))
    alice = await make_actor(Role.employee)
    box = await only_mailbox(conn, idle_settings, dovecot)
    raw, mid = message(sender=alice.user.email, subject="No IDLE here", body="Read me at the poll.")

    async with supervising(pool, idle_settings) as supervisor:
        async def checked() -> idle.Watcher | None:
            watcher = supervisor.watchers.get(box.id)
            return watcher if watcher is not None and watcher.offers_idle is False else None
        watcher = await until(checked, timeout_s=DEADLINE_S, what="the capability check")
        await until(asking(lambda: not watcher.thread.is_alive()), timeout_s=DEADLINE_S,
                    what="the watcher's thread ends")
        await asyncio.to_thread(box.append, raw)
        result = await ingest.poll_mailbox(conn, idle_settings, mailbox_id=box.id)  # the minute poll's work
        assert supervisor.watchers[box.id] is watcher  # not started again at each refresh

    assert waits == [] and not idle_threads()
    assert result.outcomes == {"ticket": 1}  # nobody read it before the poll
    assert (await taken(conn, box, mid))["outcome"] == "ticket"


async def test_mailboxes_changed_through_the_admin_api_are_picked_up(conn, pool, idle_settings, dovecot):
    box = await only_mailbox(conn, idle_settings, dovecot)
    await conn.execute("UPDATE mailboxes SET enabled = false WHERE id = %s", (box.id,))
    async with supervising(pool, idle_settings) as supervisor:
        await service.update(conn, idle_settings, mailbox_id=box.id, data=MailboxPatch(enabled=True))
        first = await idling(conn, supervisor, box)

        await service.update(conn, idle_settings, mailbox_id=box.id, data=MailboxPatch(folder="Processed"))
        second = await until(asking(lambda: (w := supervisor.watchers.get(box.id)) is not first and w),
                             timeout_s=DEADLINE_S, what="a new watcher for the new folder")
        assert not first.thread.is_alive()

        await service.update(conn, idle_settings, mailbox_id=box.id, data=MailboxPatch(enabled=False))
        await until(asking(lambda: box.id not in supervisor.watchers), timeout_s=DEADLINE_S,
                    what="the disabled mailbox loses its watcher")
        assert not second.thread.is_alive()


async def test_the_worker_hook_runs_the_supervisor_and_stop_leaves_no_thread(conn, pool, idle_settings, dovecot):
    box = await only_mailbox(conn, idle_settings, dovecot)
    assert email_tasks.serve is not None  # the worker's registry finds the hook in the imported task module
    stop = asyncio.Event()
    serving = asyncio.create_task(registry.serve({"pool": pool, "settings": idle_settings}, stop))
    await until(asking(lambda: [t for t in idle_threads() if t.name == f"{idle.THREAD_PREFIX}{box.id}"]),
                timeout_s=DEADLINE_S, what="the IDLE thread starts")

    stop.set()
    await asyncio.wait_for(serving, DEADLINE_S)  # the thread waits in a 9-minute IDLE: only the interrupt ends it

    assert not idle_threads()


async def test_turned_off_the_worker_starts_no_supervisor(pool, idle_settings, monkeypatch):
    monkeypatch.setenv("DESKMATE_EMAIL_IDLE", "false")
    off = idle_settings.model_copy(update={"email": EmailSettings(_env_file=None)})
    assert off.email.idle is False
    # returns at once, stop never set
    await asyncio.wait_for(registry.serve({"pool": pool, "settings": off}, asyncio.Event()), DEADLINE_S)
    assert not idle_threads()


async def test_deskmate_worker_takes_mail_through_idle_and_stops_on_sigterm(conn, idle_settings, dovecot, make_actor):
    alice = await make_actor(Role.employee)
    box = await only_mailbox(conn, idle_settings, dovecot)
    raw, mid = message(sender=alice.user.email, subject="Screen flickers", body="My screen flickers.")
    env = {**os.environ, "DATABASE_URL": idle_settings.database_url.get_secret_value(), "DESKMATE_ENV": "test",
           "DESKMATE_DATA_DIR": str(idle_settings.data_dir), "DESKMATE_LOG_LEVEL": "WARNING",
           "DESKMATE_EMAIL_ACKNOWLEDGE": "false"}
    with worker_processes(env, queue="retention") as start:  # not the email queue: its minute poll never runs here
        worker = start()
        await until(lambda: polled(conn, box), timeout_s=DEADLINE_S, what="the worker's IDLE connection is up")
        await asyncio.to_thread(box.append, raw)
        row = await taken(conn, box, mid)
        worker.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(worker.wait, DEADLINE_S)

    assert row["outcome"] == "ticket" and await tickets_of(conn, mid) == [row["ticket_id"]]
    assert code == 0

