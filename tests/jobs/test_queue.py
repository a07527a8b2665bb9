"""The job queue: procrastinate's schema through our migrations, jobs queued in the ticket's own
transaction (or not at all), one ordered lock per ticket, each event processed once, triage switch."""

from __future__ import annotations

import importlib.metadata
import re
from importlib import resources

import pytest
from fakes.triage import drain, worker_settings

from api.auth import service as people
from api.jobs import triage
from api.routing.embedding import get_embedder
from api.settings import REPO_ROOT, get_settings
from api.tickets import service as tickets
from api.tickets.models import TicketCreate

MIGRATIONS = REPO_ROOT / "migrations"


def test_the_queue_schema_is_procrastinates_own_and_current():
    texts = [p.read_text() for p in sorted(MIGRATIONS.glob("*.sql"))]
    declared = [v for t in texts for v in re.findall(r"^-- procrastinate-version: (\S+)$", t, re.M)]
    installed = importlib.metadata.version("procrastinate")
    assert declared and declared[-1] == installed, (
        f"procrastinate {installed} is installed but the migrations stop at {declared[-1:]}: add its "
        "sql/migrations files since then as a new numbered migration with a '-- procrastinate-version:' line")
    jobs_sql = (MIGRATIONS / "0003_jobs.sql").read_text()
    if f"-- procrastinate-version: {installed}" in jobs_sql:
        assert jobs_sql.endswith(resources.files("procrastinate.sql").joinpath("schema.sql").read_text())


async def _principal(conn, actor):
    return await people.principal_for_token(conn, token=actor.token)


async def _jobs(conn, ticket_id: int) -> list[dict]:
    cur = await conn.execute("SELECT task_name, queue_name, lock, status FROM procrastinate_jobs "
                             "WHERE args->>'ticket_id' = %s ORDER BY id", (str(ticket_id),))
    return list(await cur.fetchall())


async def test_a_job_is_queued_with_the_change_or_not_at_all(conn, make_actor):
    principal = await _principal(conn, await make_actor())
    with pytest.raises(RuntimeError):
        async with conn.transaction():
            rolled_back, _ = await tickets.create(conn, principal=principal, data=TicketCreate(title="never"))
            assert len(await _jobs(conn, rolled_back.id)) == 1  # visible inside the transaction
            raise RuntimeError("the request failed after the insert")
    assert await _jobs(conn, rolled_back.id) == []
    kept, _ = await tickets.create(conn, principal=principal, data=TicketCreate(title="kept"))
    assert await _jobs(conn, kept.id) == [
        {"task_name": "triage.process_ticket", "queue_name": "triage", "lock": f"ticket:{kept.id}", "status": "todo"}]


async def test_every_ticket_event_is_processed_once_in_order(client, conn, make_actor, settings):
    employee = await make_actor()
    ticket = (await client.post("/api/v1/tickets", json={"title": "Webcam not detected"}, headers=employee.headers)).json()
    await client.post(f"/api/v1/tickets/{ticket['id']}/comments", json={"body": "any news?"}, headers=employee.headers)
    assert len(await _jobs(conn, ticket["id"])) == 2  # one per change made by people
    ws = worker_settings(settings)
    done = await triage.process_ticket(conn, ticket_id=ticket["id"], settings=ws, embedder=get_embedder())
    assert done >= 2  # created, commented, and what triage itself did (category, assignment)
    assert await triage.process_ticket(conn, ticket_id=ticket["id"], settings=ws, embedder=get_embedder()) == 0
    last = await (await conn.execute("SELECT max(id) AS id FROM ticket_events WHERE ticket_id = %s",
                                     (ticket["id"],))).fetchone()
    cursor = await (await conn.execute("SELECT last_event_id FROM triage_cursors WHERE ticket_id = %s",
                                       (ticket["id"],))).fetchone()
    assert cursor["last_event_id"] == last["id"]
    decisions = await (await conn.execute("SELECT count(*) AS n FROM routing_decisions WHERE ticket_id = %s",
                                          (ticket["id"],))).fetchone()
    assert decisions["n"] == 1
    assert len(await _jobs(conn, ticket["id"])) == 2 + 1  # triage's own changes queued nothing; one SLA timer
    await drain(ws, queues=["triage"])  # the queued jobs for those events find nothing left to do
    assert [j for j in await _jobs(conn, ticket["id"]) if j["task_name"] == "triage.process_ticket"] == []
    assert (await (await conn.execute("SELECT count(*) AS n FROM routing_decisions WHERE ticket_id = %s",
                                      (ticket["id"],))).fetchone())["n"] == 1


async def test_triage_can_be_switched_off(conn, make_actor, monkeypatch):
    principal = await _principal(conn, await make_actor())
    monkeypatch.setenv("DESKMATE_TRIAGE_ENABLED", "false")
    get_settings.cache_clear()
    try:
        ticket, _ = await tickets.create(conn, principal=principal, data=TicketCreate(title="quiet"))
    finally:
        monkeypatch.delenv("DESKMATE_TRIAGE_ENABLED")
        get_settings.cache_clear()
    assert await _jobs(conn, ticket.id) == []
