"""Outbound: tickets, comments and changes reach GLPI once, in order, and survive GLPI failing."""

from __future__ import annotations

import asyncio

import psycopg
from psycopg.rows import dict_row
from sync_support import open_ticket, outbox, remote_by_number, run_worker, staff, time_passes

from api import jobs
from api.errors import GlpiError
from api.integrations.glpi.client import LegacyClient
from api.integrations.sync import engine
from api.tickets import service as tickets
from api.tickets.models import CommentCreate, TicketUpdate, Transition


async def test_a_new_ticket_becomes_one_glpi_ticket_with_our_number_as_externalid(conn, glpi, connector, make_actor,
                                                                                   sync_settings):
    employee = await make_actor()
    glpi.fake.people.add_user("employee", employee.user.email)  # else the content names the requester (people.py)
    ticket = await open_ticket(conn, employee, "VPN drops every hour", description="since Monday", urgency=1)
    await run_worker(sync_settings)
    [remote] = remote_by_number(glpi.fake, ticket.number)
    assert (remote["name"], remote["content"], remote["urgency"], remote["type"]) == (
        "VPN drops every hour", "since Monday", 4, 1)
    link = await (await conn.execute("SELECT external_id FROM sync_links WHERE ticket_id = %s",
                                     (ticket.id,))).fetchone()
    assert link["external_id"] == str(remote["id"])
    assert {i["status"] for i in await outbox(conn, ticket.id)} == {"done"}


async def test_a_push_retried_after_glpi_created_the_ticket_links_it_instead_of_creating_again(
        conn, glpi, connector, make_actor, sync_settings, monkeypatch):
    employee = await make_actor()
    real_create = LegacyClient.create_ticket

    async def create_then_die(self, fields):
        await real_create(self, fields)
        raise GlpiError("the worker died before it recorded the link")  # transient: retried

    monkeypatch.setattr(LegacyClient, "create_ticket", create_then_die)
    ticket = await open_ticket(conn, employee, "Laptop will not boot")
    await run_worker(sync_settings)
    assert len(remote_by_number(glpi.fake, ticket.number)) == 1
    assert (await outbox(conn, ticket.id))[0]["status"] == "pending"
    monkeypatch.undo()
    await time_passes(conn)
    await run_worker(sync_settings)
    assert len(remote_by_number(glpi.fake, ticket.number)) == 1
    assert {i["status"] for i in await outbox(conn, ticket.id)} == {"done"}


async def test_two_workers_pushing_the_same_ticket_at_once_make_one_glpi_ticket(conn, database_url, glpi, connector,
                                                                                  make_actor, sync_settings):
    employee = await make_actor()
    ticket = await open_ticket(conn, employee, "Two workers, one ticket")
    await run_worker(sync_settings)
    await conn.execute("UPDATE sync_outbox SET status = 'pending' WHERE ticket_id = %s", (ticket.id,))
    await conn.execute("DELETE FROM sync_links WHERE ticket_id = %s", (ticket.id,))
    glpi.fake.tickets.clear()
    glpi.fake.slow_s = 0.2  # both are in GLPI at the same time

    async def push() -> int:
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True, row_factory=dict_row) as c:
            return await engine.push_ticket(c, connector_id=connector.id, ticket_id=ticket.id, settings=sync_settings)

    await asyncio.gather(push(), push())
    assert len(remote_by_number(glpi.fake, ticket.number)) == 1


async def test_a_public_comment_becomes_a_follow_up_and_an_internal_note_stays(conn, glpi, connector, make_actor,
                                                                              sync_settings):
    employee, agent = await make_actor(), await make_actor("admin")
    ticket = await open_ticket(conn, employee, "Outlook keeps asking for my password")
    await tickets.add_comment(conn, principal=staff(agent), ref=ticket.id, data=CommentCreate(body="Please restart"))
    await tickets.add_comment(conn, principal=staff(agent), ref=ticket.id,
                              data=CommentCreate(body="user is VIP, be careful", internal=True))
    await run_worker(sync_settings)
    [remote] = remote_by_number(glpi.fake, ticket.number)
    followups = [f for f in glpi.fake.followups.values() if f["items_id"] == remote["id"]]
    assert [(f["content"], f["is_private"]) for f in followups] == [("Please restart", 0)]
    assert [i["status"] for i in await outbox(conn, ticket.id) if i["kind"] == "commented"] == ["done", "skipped"]


async def test_changes_and_the_resolution_reach_glpi(conn, glpi, connector, make_actor, sync_settings):
    employee, agent = await make_actor(), await make_actor("admin")
    ticket = await open_ticket(conn, employee, "Screen flickers")
    await run_worker(sync_settings)
    await tickets.update(conn, principal=staff(agent), ref=ticket.id, data=TicketUpdate(impact=1))
    await tickets.transition(conn, principal=staff(agent), ref=ticket.id,
                             data=Transition(status="resolved", reason="Replaced the cable"))
    await run_worker(sync_settings)
    [remote] = remote_by_number(glpi.fake, ticket.number)
    assert remote["impact"] == 4 and remote["status"] == 5
    assert [s["content"] for s in glpi.fake.solutions.values() if s["items_id"] == remote["id"]] == [
        "Replaced the cable"]


async def test_glpi_down_then_failing_loses_nothing_and_the_queue_drains_without_duplicates(
        conn, glpi, connector, make_actor, sync_settings):
    employee = await make_actor()
    glpi.stop()  # connection refused
    first = [await open_ticket(conn, employee, f"Outage ticket {i}") for i in range(3)]
    await run_worker(sync_settings)
    refused = [i for t in first for i in await outbox(conn, t.id)]
    assert refused and all("Cannot reach GLPI" in i["last_error"] for i in refused if i["kind"] == "created")
    glpi.start()
    glpi.fake.failing = 500
    second = [await open_ticket(conn, employee, f"Outage ticket {i}") for i in range(3, 5)]
    await time_passes(conn)
    await run_worker(sync_settings)
    assert not [t for t in glpi.fake.tickets.values() if t["externalid"] in {x.number for x in first + second}]
    pending = [i for t in first + second for i in await outbox(conn, t.id)]
    assert pending and {i["status"] for i in pending} == {"pending"}
    assert any("GLPI answered 500" in (i["last_error"] or "") for i in pending)
    glpi.fake.failing = None
    await time_passes(conn)
    await run_worker(sync_settings)
    numbers = sorted(t.number for t in first + second)
    assert sorted(t["externalid"] for t in glpi.fake.tickets.values() if t["externalid"] in numbers) == numbers  # each once, none twice
    links = await (await conn.execute("SELECT t.number FROM sync_links l JOIN tickets t ON t.id = l.ticket_id "
                                      "WHERE l.connector_id = %s ORDER BY t.number", (connector.id,))).fetchall()
    assert [r["number"] for r in links if r["number"] in numbers] == numbers
    assert {i["status"] for t in first + second for i in await outbox(conn, t.id)} == {"done"}


async def test_a_permanent_refusal_fails_that_item_with_glpis_text_and_others_still_sync(
        conn, glpi, connector, make_actor, sync_settings):
    employee, admin = await make_actor(), await make_actor("admin")
    glpi.fake.refuse_create("Payroll")
    refused = await open_ticket(conn, employee, "Payroll export broken")
    fine = await open_ticket(conn, employee, "Mouse broken")
    await run_worker(sync_settings)
    [item] = [i for i in await outbox(conn, refused.id) if i["kind"] == "created"]
    assert item["status"] == "failed"
    assert "ERROR_RIGHT_MISSING: You don't have permission to perform this action." in item["last_error"]
    assert len(remote_by_number(glpi.fake, fine.number)) == 1
    told = await (await conn.execute("SELECT body FROM notifications WHERE user_id = %s AND ticket_id = %s",
                                     (admin.user.id, refused.id))).fetchall()
    assert told and "ERROR_RIGHT_MISSING" in told[0]["body"]


async def test_a_transient_failure_keeps_the_items_behind_it_waiting_in_order(conn, glpi, connector, make_actor,
                                                                             sync_settings):
    employee, agent = await make_actor(), await make_actor("admin")
    glpi.stop()
    ticket = await open_ticket(conn, employee, "Order matters")
    await run_worker(sync_settings)
    await tickets.add_comment(conn, principal=staff(agent), ref=ticket.id, data=CommentCreate(body="first"))
    await tickets.add_comment(conn, principal=staff(agent), ref=ticket.id, data=CommentCreate(body="second"))
    await run_worker(sync_settings)
    assert {i["status"] for i in await outbox(conn, ticket.id)} == {"pending"}
    glpi.start()
    await time_passes(conn)
    await run_worker(sync_settings)
    [remote] = remote_by_number(glpi.fake, ticket.number)
    assert [f["content"] for f in sorted(glpi.fake.followups.values(), key=lambda f: f["id"])
            if f["items_id"] == remote["id"]] == ["first", "second"]


async def test_two_workers_draining_the_queue_at_once_make_each_glpi_ticket_once(conn, glpi, connector, make_actor,
                                                                                  sync_settings):
    employee = await make_actor()
    made = [await open_ticket(conn, employee, f"Busy morning {i}") for i in range(4)]
    await asyncio.gather(run_worker(sync_settings), run_worker(sync_settings))
    for ticket in made:
        assert len(remote_by_number(glpi.fake, ticket.number)) == 1


async def test_a_push_for_a_connector_removed_meanwhile_fails_once_instead_of_retrying(conn, sync_settings):
    missing = (await (await conn.execute("SELECT coalesce(max(id), 0) + 1000 AS id FROM sync_connectors")).fetchone())["id"]
    await jobs.defer(conn, "sync.push", queue="sync", connector_id=missing, ticket_id=1)
    await run_worker(sync_settings)
    job = await (await conn.execute(
        "SELECT status, attempts FROM procrastinate_jobs WHERE task_name = 'sync.push' "
        "AND args->>'connector_id' = %s", (str(missing),))).fetchone()
    assert (job["status"], job["attempts"]) == ("failed", 1)  # a connector that is gone does not come back
