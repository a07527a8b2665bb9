"""Both sides change tickets while GLPI is down, then failing, then slow: afterwards everything converges, with no
duplicates on either side and no drift."""

from __future__ import annotations

from sync_support import open_ticket, remote_by_number, run_worker, staff, time_passes

from api.integrations.sync import bulk, engine
from api.tickets import service as tickets
from api.tickets.models import CommentCreate, TicketUpdate


async def test_changes_on_both_sides_during_an_outage_converge(conn, glpi, connector, make_actor, sync_settings):
    employee, agent = await make_actor(), await make_actor("admin")
    a = await open_ticket(conn, employee, "Printer offline")
    b = await open_ticket(conn, employee, "Wi-Fi slow in room 4")
    await run_worker(sync_settings)
    [remote_b] = remote_by_number(glpi.fake, b.number)

    glpi.stop()  # connection refused
    await tickets.update(conn, principal=staff(agent), ref=a.id, data=TicketUpdate(title="Printer offline (3rd floor)"))
    await tickets.add_comment(conn, principal=staff(agent), ref=a.id, data=CommentCreate(body="Checking the cable"))
    c = await open_ticket(conn, employee, "New starter needs a laptop")
    await run_worker(sync_settings)
    assert (await engine.poll(conn, connector_id=connector.id, settings=sync_settings)).error

    glpi.start()
    glpi.fake.failing = 500  # up, but failing
    glpi.fake.add_followup(remote_b["id"], "Access point replaced")  # GLPI agents work meanwhile
    glpi.fake.edit_ticket(remote_b["id"], status=4)
    await time_passes(conn)
    await run_worker(sync_settings)
    assert remote_by_number(glpi.fake, c.number) == []  # nothing reached GLPI while it failed

    glpi.fake.failing = None
    glpi.fake.slow_s = 0.01  # slow, but answering
    await time_passes(conn)
    await run_worker(sync_settings)
    await engine.poll(conn, connector_id=connector.id, settings=sync_settings)
    await run_worker(sync_settings)

    numbers = sorted(t.number for t in (a, b, c))
    assert sorted(t["externalid"] for t in glpi.fake.tickets.values() if t["externalid"] in numbers) == numbers  # GLPI: each once
    [remote_a] = remote_by_number(glpi.fake, a.number)
    assert remote_a["name"] == "Printer offline (3rd floor)"
    assert [f["content"] for f in glpi.fake.followups.values() if f["items_id"] == remote_a["id"]] == [
        "Checking the cable"]
    b_comments = await (await conn.execute("SELECT body FROM ticket_comments WHERE ticket_id = %s", (b.id,))).fetchall()
    assert [r["body"] for r in b_comments] == ["Access point replaced"]  # deskmate: once
    assert [f["content"] for f in glpi.fake.followups.values() if f["items_id"] == remote_b["id"]] == [
        "Access point replaced"]  # and not echoed back
    assert (await tickets.get_or_raise(conn, principal=staff(agent), ref=b.id)).status == "pending"
    assert await bulk.reconcile(conn, sync_settings, name=connector.name) == []
    pending = await (await conn.execute("SELECT count(*) AS n FROM sync_outbox WHERE connector_id = %s "
                                        "AND status <> 'done' AND status <> 'skipped'", (connector.id,))).fetchone()
    assert pending["n"] == 0
