"""The SolMan connector through the real sync engine and worker, against the fake Gateway: incidents made once,
comments as texts, SolMan's texts and status back through the ticket service without echo, CSRF expiry, SAP's
errors."""

from __future__ import annotations

from fakes.triage import drain
from solman_support import agent_replies, backoff_passes, incidents_of, texts_of

from api.auth.models import Principal, Role
from api.errors import SolmanError
from api.integrations.solman.client import SolmanClient
from api.integrations.sync import engine
from api.tickets import service as tickets
from api.tickets.models import CommentCreate, Ticket, TicketCreate, TicketUpdate, Transition

QUEUES = ["triage", "sync"]


def _principal(actor, role: Role | None = None) -> Principal:  # type: ignore[no-untyped-def]
    user = actor.user
    return Principal(id=user.id, email=user.email, name=user.name, role=role or user.role)


async def _open(conn, actor, title: str, **fields) -> Ticket:  # type: ignore[no-untyped-def]
    ticket, _ = await tickets.create(conn, principal=_principal(actor), data=TicketCreate(title=title, **fields))
    return ticket


async def _outbox(conn, ticket_id: int) -> list[dict]:  # type: ignore[no-untyped-def]
    cur = await conn.execute("SELECT o.status, o.last_error, o.attempts, e.kind FROM sync_outbox o "
                             "JOIN ticket_events e ON e.id = o.event_id WHERE o.ticket_id = %s ORDER BY o.id",
                             (ticket_id,))
    return list(await cur.fetchall())


async def _comments(conn, ticket_id: int) -> list[tuple[str, bool]]:  # type: ignore[no-untyped-def]
    cur = await conn.execute("SELECT body, internal FROM ticket_comments WHERE ticket_id = %s ORDER BY id", (ticket_id,))
    return [(c["body"], c["internal"]) for c in await cur.fetchall()]


async def test_a_new_ticket_becomes_one_incident_with_the_mapped_fields(conn, gateway, solman_connector, make_actor,
                                                                        solman_settings):
    employee = await make_actor()
    ticket = await _open(conn, employee, "SAP GUI dumps when posting an invoice in MIRO", description="ST22 shows "
                         "a short dump", urgency=1, impact=2)
    await drain(solman_settings, queues=QUEUES)
    [incident] = incidents_of(gateway.fake, ticket.number)
    assert (incident["ProcessType"], incident["Description"], incident["Priority"]) == (
        "SMIN", "SAP GUI dumps when posting an invoice in"[:40], "2")
    assert incident["LongText"].startswith("ST22 shows a short dump")
    link = await (await conn.execute("SELECT external_id FROM sync_links WHERE ticket_id = %s",
                                     (ticket.id,))).fetchone()
    assert link["external_id"] == incident["ObjectId"]
    assert {i["status"] for i in await _outbox(conn, ticket.id)} == {"done"}


async def test_a_mapped_category_goes_with_the_create(conn, gateway, solman_connector, make_actor, solman_settings):
    employee = await make_actor()
    ticket = await _open(conn, employee, "Printer prints blank pages", category="printing")
    await drain(solman_settings, queues=QUEUES)
    [incident] = incidents_of(gateway.fake, ticket.number)
    assert (incident["CategoryId"], incident["CategoryAspectId"], incident["CategoryCatalogType"]) == (
        "PRN", "ITSM_CAT", "D")


async def test_a_create_retried_after_solman_made_the_incident_links_it_instead_of_creating_again(
        conn, gateway, solman_connector, make_actor, solman_settings, monkeypatch):
    employee = await make_actor()
    real_create = SolmanClient.create_incident

    async def create_then_die(self, fields):  # type: ignore[no-untyped-def]
        await real_create(self, fields)
        raise SolmanError("the worker died before it recorded the link")  # transient: retried

    monkeypatch.setattr(SolmanClient, "create_incident", create_then_die)
    ticket = await _open(conn, employee, "BW query times out")
    await drain(solman_settings, queues=QUEUES)
    assert len(incidents_of(gateway.fake, ticket.number)) == 1
    assert (await _outbox(conn, ticket.id))[0]["status"] == "pending"
    monkeypatch.undo()
    await backoff_passes(conn)
    await drain(solman_settings, queues=QUEUES)
    assert len(incidents_of(gateway.fake, ticket.number)) == 1
    assert {i["status"] for i in await _outbox(conn, ticket.id)} == {"done"}


async def test_a_public_comment_becomes_a_text_and_an_internal_note_stays(conn, gateway, solman_connector,
                                                                         make_actor, solman_settings):
    employee, agent = await make_actor(), await make_actor("admin")
    ticket = await _open(conn, employee, "Cannot release a purchase order")
    await tickets.add_comment(conn, principal=_principal(agent), ref=ticket.id,
                              data=CommentCreate(body="Which release strategy?"))
    await tickets.add_comment(conn, principal=_principal(agent), ref=ticket.id,
                              data=CommentCreate(body="the approver is on leave", internal=True))
    await drain(solman_settings, queues=QUEUES)
    [incident] = incidents_of(gateway.fake, ticket.number)
    assert texts_of(gateway.fake, incident["ObjectId"]) == [("SU99", "Which release strategy?")]
    assert [i["status"] for i in await _outbox(conn, ticket.id) if i["kind"] == "commented"] == ["done", "skipped"]


async def test_a_solman_reply_and_status_change_come_back_by_the_poll_and_are_not_echoed(
        conn, gateway, solman_connector, make_actor, solman_settings):
    employee = await make_actor()
    ticket = await _open(conn, employee, "Transport stuck in import queue")
    await drain(solman_settings, queues=QUEUES)
    [incident] = incidents_of(gateway.fake, ticket.number)
    agent_replies(gateway.fake, incident["ObjectId"], "Restarted tp; please check.", StatusCode="E0005")

    polled = await engine.poll(conn, connector_id=solman_connector.id, settings=solman_settings)
    assert (polled.error, polled.pulled, polled.comments) == (None, 1, 1)
    after = await tickets.get_or_raise(conn, principal=_principal(employee), ref=ticket.id)
    assert after.status == "resolved"
    assert await _comments(conn, ticket.id) == [("Restarted tp; please check.", False)]
    events = await (await conn.execute("SELECT kind, meta FROM ticket_events WHERE ticket_id = %s AND meta ? 'sync'",
                                       (ticket.id,))).fetchall()
    assert {e["kind"] for e in events} == {"status_changed", "commented"}
    assert {e["meta"]["sync"] for e in events} == {solman_connector.name}

    requests = len(gateway.fake.requests)
    await drain(solman_settings, queues=QUEUES)
    assert [m for m, _ in gateway.fake.requests[requests:] if m in ("POST", "MERGE")] == []  # no echo
    assert texts_of(gateway.fake, incident["ObjectId"]) == [("SU99", "Restarted tp; please check.")]
    again = await engine.poll(conn, connector_id=solman_connector.id, settings=solman_settings)
    assert (again.pulled, again.comments) == (0, 0)  # the overlap reads it again; nothing is added twice
    assert again.cursor is not None and again.cursor == polled.cursor


async def test_a_status_changed_on_both_sides_keeps_solmans_with_a_conflict(conn, gateway, solman_connector,
                                                                            make_actor, solman_settings):
    employee, agent = await make_actor(), await make_actor("admin")
    ticket = await _open(conn, employee, "Printer in SPAD not found")
    await drain(solman_settings, queues=QUEUES)
    [incident] = incidents_of(gateway.fake, ticket.number)
    assert incident["Priority"] == "4"  # P5 (urgency and impact 3)
    gateway.fake.change(incident["ObjectId"], StatusCode="E0005")  # SolMan: solution proposed …
    await tickets.update(conn, principal=_principal(agent, Role.admin), ref=ticket.id,
                         data=TicketUpdate(urgency=1))  # … while deskmate changes the priority …
    await tickets.transition(conn, principal=_principal(agent, Role.admin), ref=ticket.id,
                             data=Transition(status="pending", reason="waiting for the user"))  # … and the status
    await drain(solman_settings, queues=QUEUES)

    assert gateway.fake.incidents[incident["ObjectId"]]["StatusCode"] == "E0005"  # SolMan's status kept
    assert gateway.fake.incidents[incident["ObjectId"]]["Priority"] == "3"  # deskmate's P3 written
    after = await tickets.get_or_raise(conn, principal=_principal(agent, Role.admin), ref=ticket.id)
    assert after.status == "resolved"
    conflicts = await (await conn.execute("SELECT field, local_value, remote_value FROM sync_conflicts "
                                          "WHERE ticket_id = %s", (ticket.id,))).fetchall()
    assert [(c["field"], c["local_value"], c["remote_value"]) for c in conflicts] == [("status", "pending", "E0005")]


async def test_an_expired_csrf_session_in_the_middle_of_a_sync_is_transparent(conn, gateway, solman_connector,
                                                                               make_actor, solman_settings, monkeypatch):
    employee, agent = await make_actor(), await make_actor("admin")
    real_add_text = SolmanClient.add_text

    async def after_a_session_timeout(self, key, text, **kwargs):  # type: ignore[no-untyped-def]
        gateway.fake.expire_sessions()  # the Gateway session behind the client's token ends just now
        return await real_add_text(self, key, text, **kwargs)

    monkeypatch.setattr(SolmanClient, "add_text", after_a_session_timeout)
    ticket = await _open(conn, employee, "Fiori launchpad tiles missing")
    await tickets.add_comment(conn, principal=_principal(agent), ref=ticket.id,
                              data=CommentCreate(body="Cleared the cache, does it work now?"))
    await drain(solman_settings, queues=QUEUES)

    [incident] = incidents_of(gateway.fake, ticket.number)
    assert texts_of(gateway.fake, incident["ObjectId"]) == [("SU99", "Cleared the cache, does it work now?")]
    assert {(i["status"], i["attempts"]) for i in await _outbox(conn, ticket.id)} == {("done", 1)}
    sent = [m for m, p in gateway.fake.requests if m == "POST" and p.endswith("TextSet")]
    assert len(sent) == 2  # refused once with "CSRF token validation failed", then sent with a new token


async def test_a_sap_validation_error_fails_that_ticket_for_good_and_the_others_still_sync(
        conn, gateway, solman_connector, make_actor, solman_settings):
    employee = await make_actor()
    bad = await _open(conn, employee, "Payroll run aborted", urgency=1, impact=1)  # P1 → "9": not customized
    good = await _open(conn, employee, "Everything is slow", urgency=3, impact=3)
    await drain(solman_settings, queues=QUEUES)

    failed = await _outbox(conn, bad.id)  # each item (the create, triage's changes) tried to create it
    assert failed[0]["kind"] == "created" and {i["status"] for i in failed} == {"failed"}
    assert all("Priority 9 is not defined" in i["last_error"] and "CRM_ORDER/126" in i["last_error"]
               and i["attempts"] == 1 for i in failed)
    assert incidents_of(gateway.fake, bad.number) == []
    assert len(incidents_of(gateway.fake, good.number)) == 1
    assert {i["status"] for i in await _outbox(conn, good.id)} == {"done"}
    alert = await (await conn.execute("SELECT body FROM notifications WHERE ticket_id = %s AND title LIKE 'Sync to %%'",
                                   (bad.id,))).fetchone()
    assert alert is not None and "Priority 9" in alert["body"]


async def test_the_poll_reads_every_page_and_moves_its_cursor_to_the_newest_change(conn, gateway, solman_connector,
                                                                                  make_actor, solman_settings):
    employee = await make_actor()
    opened = [await _open(conn, employee, f"Batch job {n} cancelled") for n in range(3)]
    await drain(solman_settings, queues=QUEUES)
    for ticket in opened:  # three changes: two pages of the connector's page_size (2)
        [incident] = incidents_of(gateway.fake, ticket.number)
        agent_replies(gateway.fake, incident["ObjectId"], f"Rescheduled {ticket.number}")

    polled = await engine.poll(conn, connector_id=solman_connector.id, settings=solman_settings)
    assert (polled.error, polled.comments) == (None, 3)
    for ticket in opened:
        assert await _comments(conn, ticket.id) == [(f"Rescheduled {ticket.number}", False)]
    newest = max(i["_changed"] for i in gateway.fake.incidents.values())
    in_ms = newest.replace(microsecond=newest.microsecond // 1000 * 1000)  # V2 dates carry milliseconds
    assert polled.cursor == in_ms.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    stored = await (await conn.execute("SELECT inbound_cursor FROM sync_connectors WHERE id = %s",
                                       (solman_connector.id,))).fetchone()
    assert stored["inbound_cursor"] == polled.cursor


async def test_solman_down_for_a_while_loses_nothing_and_the_queue_drains_after(conn, gateway, solman_connector,
                                                                               make_actor, solman_settings):
    employee = await make_actor()
    gateway.fake.fail_next(503, times=50)  # the Gateway answers "backend unavailable" to everything for a while
    ticket = await _open(conn, employee, "Work processes all busy")
    await drain(solman_settings, queues=QUEUES)
    assert incidents_of(gateway.fake, ticket.number) == []
    waiting = await _outbox(conn, ticket.id)
    assert waiting and {i["status"] for i in waiting} == {"pending"}
    assert "503" in waiting[0]["last_error"] and "Backend system unavailable" in waiting[0]["last_error"]

    gateway.fake.recover()  # it is back
    await backoff_passes(conn)
    await drain(solman_settings, queues=QUEUES)
    assert len(incidents_of(gateway.fake, ticket.number)) == 1
    assert {i["status"] for i in await _outbox(conn, ticket.id)} == {"done"}
