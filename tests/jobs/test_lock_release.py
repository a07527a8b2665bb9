"""Job pickup when a lock is released (migrations/0024): the job that waited for a lock is announced again, in
procrastinate's own words, when the job holding the lock ends; an idle worker fetches it then instead of at its
next poll. Checked on the wire: LISTEN on the queue's channel as procrastinate's worker does."""

from __future__ import annotations

import json
import uuid

import psycopg
import pytest

from api import jobs


async def _notifications_until_marker(listener: psycopg.AsyncConnection, channel: str) -> list[dict]:
    """What arrived on ``channel`` before a marker this test sends last (so nothing is waited for by time)."""
    await listener.execute(f"NOTIFY \"{channel}\", 'marker'")
    seen = []
    async for note in listener.notifies(timeout=30):
        if note.payload == "marker":
            return seen
        seen.append(json.loads(note.payload))
    raise AssertionError("the marker notification never arrived")


@pytest.mark.parametrize("delete_job", [True, False], ids=["deleted-when-done", "kept-when-done"])
async def test_the_job_waiting_for_a_lock_is_announced_when_the_lock_is_released(conn, database_url, delete_job):
    queue, lock = f"q{uuid.uuid4().hex[:12]}", f"lock-{uuid.uuid4().hex}"
    channel = f"procrastinate_queue_v1#{queue}"
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as listener:
        await listener.execute(f'LISTEN "{channel}"')
        first = await jobs.defer(conn, "workflows.step", queue=queue, lock=lock, run_id=1, step_id="a")
        second = await jobs.defer(conn, "workflows.step", queue=queue, lock=lock, run_id=1, step_id="b")
        unlocked = await jobs.defer(conn, "workflows.step", queue=queue, run_id=2, step_id="a")
        inserted = await _notifications_until_marker(listener, channel)
        assert [n["job_id"] for n in inserted] == [first, second, unlocked]  # procrastinate's own announcements

        fetched = await (await conn.execute("SELECT (procrastinate_fetch_job_v2(%s, NULL)).id", ([queue],))).fetchone()
        blocked = await (await conn.execute("SELECT (procrastinate_fetch_job_v2(%s, NULL)).id", ([queue],))).fetchone()
        assert (fetched["id"], blocked["id"]) == (first, unlocked)  # the second waits for the lock
        await conn.execute("SELECT procrastinate_finish_job_v1(%s, 'succeeded', %s)", (unlocked, delete_job))
        assert await _notifications_until_marker(listener, channel) == []  # no lock, nothing to announce

        await conn.execute("SELECT procrastinate_finish_job_v1(%s, 'succeeded', %s)", (first, delete_job))
        assert await _notifications_until_marker(listener, channel) == [{"type": "job_inserted", "job_id": second}]
        again = await (await conn.execute("SELECT (procrastinate_fetch_job_v2(%s, NULL)).id", ([queue],))).fetchone()
        assert again["id"] == second
        await conn.execute("SELECT procrastinate_finish_job_v1(%s, 'succeeded', true)", (second,))
