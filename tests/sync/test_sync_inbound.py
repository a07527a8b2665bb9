"""Inbound: GLPI follow-ups and status changes come back through the ticket service, are not echoed back, and a
change made on both sides keeps GLPI's value with a conflict recorded."""

from __future__ import annotations

import pytest
from fakes.triage import drain
from sync_support import open_ticket, outbox, remote_by_number, run_worker, staff

from api.errors import Conflict
from api.integrations.sync import engine, service
from api.integrations.sync.models import ConflictResolution
from api.tickets import service as tickets
from api.tickets.models import TicketUpdate


async def _linked(conn, glpi, employee, sync_settings, title):
    ticket = await open_ticket(conn, employee, title)
    await run_worker(sync_settings)
    [remote] = remote_by_number(glpi.fake, ticket.number)
    return ticket, remote


async def test_a_glpi_follow_up_becomes_a_comment_and_is_not_sent_back(conn, glpi, connector, make_actor,
                                                                        sync_settings):
    employee = await make_actor()
    ticket, remote = await _linked(conn, glpi, employee, sync_settings, "Teams crashes on start")
    glpi.fake.add_followup(remote["id"], "Please reinstall Teams")
    glpi.fake.add_followup(remote["id"], "Known issue with build 42", private=True)
    polled = await engine.poll(conn, connector_id=connector.id, settings=sync_settings)
    assert polled.comments == 2 and polled.error is None
    comments = await (await conn.execute("SELECT body, internal FROM ticket_comments WHERE ticket_id = %s ORDER BY id",
                                         (ticket.id,))).fetchall()
    assert [(c["body"], c["internal"]) for c in comments] == [
        ("Please reinstall Teams", False), ("Known issue with build 42", True)]
    await run_worker(sync_settings)
    assert len([f for f in glpi.fake.followups.values() if f["items_id"] == remote["id"]]) == 2  # no echo
    assert "commented" not in [i["kind"] for i in await outbox(conn, ticket.id)]  # events from GLPI are not queued
    again = await engine.poll(conn, connector_id=connector.id, settings=sync_settings)
    assert again.comments == 0  # the overlap window reads it again; nothing is added twice


async def test_a_status_change_in_glpi_reaches_the_ticket_through_the_service(conn, glpi, connector, make_actor,
                                                                              sync_settings):
    employee = await make_actor()
    ticket, remote = await _linked(conn, glpi, employee, sync_settings, "Need a new badge")
    glpi.fake.edit_ticket(remote["id"], status=5, urgency=5)
    await engine.poll(conn, connector_id=connector.id, settings=sync_settings)
    after = await tickets.get_or_raise(conn, principal=staff(employee), ref=ticket.id)
    assert (after.status, after.urgency) == ("resolved", 1)
    events = await (await conn.execute("SELECT kind, meta FROM ticket_events WHERE ticket_id = %s "
                                       "AND meta ? 'sync' ORDER BY id", (ticket.id,))).fetchall()
    assert {e["kind"] for e in events} == {"updated", "status_changed"}
    assert {e["meta"]["sync"] for e in events} == {connector.name}
    requests = len(glpi.fake.requests)
    await run_worker(sync_settings)
    assert [r.method for r in glpi.fake.requests[requests:] if r.method in ("PUT", "POST")] == []  # no echo


async def test_unlinked_glpi_tickets_are_not_imported_by_the_poll(conn, glpi, connector, sync_settings):
    glpi.fake.add_ticket(name="Made in GLPI")
    before = (await (await conn.execute("SELECT count(*) AS n FROM tickets")).fetchone())["n"]
    polled = await engine.poll(conn, connector_id=connector.id, settings=sync_settings)
    assert polled.read >= 1 and polled.pulled == 0
    assert (await (await conn.execute("SELECT count(*) AS n FROM tickets")).fetchone())["n"] == before


@pytest.mark.parametrize("first", ["push", "poll"])
async def test_an_edit_on_both_sides_keeps_glpis_value_and_records_a_conflict(conn, glpi, connector, make_actor,
                                                                              sync_settings, first):
    employee, agent = await make_actor(), await make_actor("admin")
    ticket, remote = await _linked(conn, glpi, employee, sync_settings, "Disk full")
    glpi.fake.edit_ticket(remote["id"], impact=5)              # GLPI: impact very high …
    await tickets.update(conn, principal=staff(agent), ref=ticket.id,
                         data=TicketUpdate(impact=2, title="Disk full on C:"))  # … deskmate: medium, and a new title
    if first == "push":  # the push finds GLPI changed since it last looked
        await drain(sync_settings, queues=["triage"])
        await engine.push_ticket(conn, connector_id=connector.id, ticket_id=ticket.id, settings=sync_settings)
    else:  # the poll finds a change here that was not pushed yet
        await engine.poll(conn, connector_id=connector.id, settings=sync_settings)
    await run_worker(sync_settings)
    now = glpi.fake.tickets[remote["id"]]
    assert (now["impact"], now["name"]) == (5, "Disk full on C:")  # GLPI's value kept; the other field written
    conflicts = await (await conn.execute("SELECT field, local_value, remote_value FROM sync_conflicts "
                                          "WHERE ticket_id = %s", (ticket.id,))).fetchall()
    assert [(c["field"], c["local_value"], c["remote_value"]) for c in conflicts] == [("impact", 2, 5)]
    after = await tickets.get_or_raise(conn, principal=staff(agent), ref=ticket.id)
    assert after.impact == 1  # both sides agree again: GLPI's 5 is deskmate's 1


async def test_keeping_deskmates_value_in_a_conflict_applies_it_again_and_syncs_it_out(conn, glpi, connector,
                                                                                     make_actor, sync_settings):
    employee, agent = await make_actor(), await make_actor("agent")
    ticket, remote = await _linked(conn, glpi, employee, sync_settings, "Printer offline")
    glpi.fake.edit_ticket(remote["id"], impact=5)
    await tickets.update(conn, principal=staff(agent), ref=ticket.id, data=TicketUpdate(impact=2))
    await engine.poll(conn, connector_id=connector.id, settings=sync_settings)
    await run_worker(sync_settings)
    [conflict] = await service.conflicts(conn, ticket=ticket.number, open_only=True)
    assert (conflict.field, conflict.local_value, glpi.fake.tickets[remote["id"]]["impact"]) == ("impact", 2, 5)

    resolved = await service.resolve_conflict(conn, conflict_id=conflict.id, principal=staff(agent),
                                              data=ConflictResolution(keep="ours"))
    await run_worker(sync_settings)
    assert (resolved.resolved, resolved.resolution, resolved.resolved_by) == (True, "ours", agent.user.email)
    assert (await tickets.get_or_raise(conn, principal=staff(agent), ref=ticket.id)).impact == 2
    assert glpi.fake.tickets[remote["id"]]["impact"] == 3  # deskmate's medium, written to GLPI this time
    assert await service.conflicts(conn, ticket=ticket.number, open_only=True) == []
    with pytest.raises(Conflict):
        await service.resolve_conflict(conn, conflict_id=conflict.id, principal=staff(agent),
                                       data=ConflictResolution(keep="theirs"))


async def test_a_glpi_change_deskmate_refuses_is_reported_and_the_other_tickets_still_come_in(
        conn, glpi, connector, make_actor, sync_settings):
    employee = await make_actor()
    await conn.execute("UPDATE sync_connectors SET config = config || '{\"categories\": {\"no-such-category\": 99}}' "
                       "WHERE id = %s", (connector.id,))
    bad, bad_remote = await _linked(conn, glpi, employee, sync_settings, "Category from nowhere")
    good, good_remote = await _linked(conn, glpi, employee, sync_settings, "Plain change")
    glpi.fake.edit_ticket(bad_remote["id"], itilcategories_id=99)
    glpi.fake.edit_ticket(good_remote["id"], status=4)
    polled = await engine.poll(conn, connector_id=connector.id, settings=sync_settings)
    assert "no-such-category" in polled.error and f"GLPI ticket {bad_remote['id']}" in polled.error
    assert (await tickets.get_or_raise(conn, principal=staff(employee), ref=good.id)).status == "pending"
    row = await (await conn.execute("SELECT last_error FROM sync_connectors WHERE id = %s", (connector.id,))).fetchone()
    assert row["last_error"] == polled.error
