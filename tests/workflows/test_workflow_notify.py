"""A ``notify`` step tells the requester through the alert channels: its text is a public comment on the run's
ticket, and the alert rules on comments (the demo's "Keep the requester posted": in-app) deliver it."""

from __future__ import annotations

from fakes.triage import drain, worker_settings
from workflows_support import define, run_worker, ticket_of

from api.workflows import engine, service


async def test_a_notify_step_reaches_the_requester_through_the_alert_rules(conn, settings, employee):
    name = await define(conn, {
        "name": "tell", "title": "Tell", "ticket": {"title": "Tell the requester"}, "handoff_team": "identity",
        "steps": [{"id": "tell", "kind": "notify", "text": "Your new badge is ready at the front desk."}]})
    run_id = await engine.start(conn, name=name, inputs={}, requester_id=employee.user.id)
    await run_worker(settings, conn)
    await drain(worker_settings(settings), queues=["triage", "alerts"])  # the comment's alert rules, delivered

    ticket = await ticket_of(conn, run_id)
    comments = await (await conn.execute(
        "SELECT body, internal FROM ticket_comments WHERE ticket_id = %s", (ticket["id"],))).fetchall()
    told = await (await conn.execute(
        "SELECT title, body FROM notifications WHERE user_id = %s AND ticket_id = %s",
        (employee.user.id, ticket["id"]))).fetchall()

    assert (await service.get_run(conn, run_id=run_id)).status == "succeeded"
    assert {"body": "Your new badge is ready at the front desk.", "internal": False} in comments
    assert any("Your new badge is ready" in (n["body"] or "") for n in told), told
