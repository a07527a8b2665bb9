"""Ticket updates go back to the requester where the ticket came from (the alert channel ORIGIN, issue #12):
through the real triage pipeline and alert delivery (an in-process burst worker), into the conversation."""

from __future__ import annotations

from typing import Any

import pytest
from fakes.triage import drain, worker_settings

from api.alerts.models import ChannelSpec
from api.auth.models import Role
from api.channels import Channel, origin
from api.chat import service as chat
from api.errors import ChannelDeliveryFailed
from api.integrations.sync import connectors
from api.tickets import service as tickets
from api.tickets.models import CommentCreate, TicketCreate
from api.types import SourceType


@pytest.fixture
async def quiet(settings):
    """Runs what earlier tests left queued, so each test sees only its own deliveries."""
    s = worker_settings(settings)
    await drain(s)
    return s


async def _chat_ticket(conn, principal_of, employee, *, channel: Channel = Channel.web) -> tuple[str, dict]:
    """A conversation of ``employee`` on ``channel`` and a ticket opened from it (as the chat opens them)."""
    if channel is Channel.web:
        conversation = await chat.start(conn, channel=channel, employee=employee.user, channel_user=None)
    else:
        conversation = await chat.conversation_for(conn, channel=channel, key=f"test:{employee.user.id}",
                                                   employee=employee.user, channel_user="U1",
                                                   ref={"channel": "D1"})
    ticket, _ = await tickets.create(conn, principal=await principal_of(employee), data=TicketCreate(
        title="The docking station does not charge", source_type=SourceType.CHATBOT,
        source_reference=str(conversation)))
    return str(conversation), ticket.model_dump()


async def _bot_said(conn, conversation: str) -> list[str]:
    return [m.text for m in await chat.transcript(conn, conversation_id=conversation) if m.direction == "bot"]


async def test_an_agents_reply_and_the_resolution_reach_the_widget_conversation(
        client, conn, make_actor, principal_of, quiet):
    employee, agent = await make_actor(), await make_actor(Role.admin)
    conversation, ticket = await _chat_ticket(conn, principal_of, employee)

    r = await client.post(f"/api/v1/tickets/{ticket['number']}/comments", headers=agent.headers,
                          json={"body": "Please try the USB-C port on the left."})
    assert r.status_code == 201, r.text
    await client.post(f"/api/v1/tickets/{ticket['number']}/comments", headers=agent.headers,
                      json={"body": "checked the asset register", "internal": True})
    r = await client.post(f"/api/v1/tickets/{ticket['number']}/transition", headers=agent.headers,
                          json={"status": "resolved", "reason": "Replaced the dock."})
    assert r.status_code == 200, r.text
    await drain(quiet)

    said = await _bot_said(conn, conversation)
    assert said == [
        f'Update on your ticket {ticket["number"]} "The docking station does not charge": {agent.user.name} wrote: '
        "Please try the USB-C port on the left.",
        f'Update on your ticket {ticket["number"]} "The docking station does not charge": it is now resolved '
        "(Replaced the dock.)."]  # the internal note never leaves


async def test_a_reply_synced_from_glpi_is_the_service_desks_not_the_sync_accounts(conn, make_actor, principal_of,
                                                                                    quiet):
    employee = await make_actor()
    conversation, ticket = await _chat_ticket(conn, principal_of, employee)
    await tickets.add_comment(conn, principal=await connectors.principal(conn), ref=ticket["id"],
                              data=CommentCreate(body="We swapped the display cable."), meta={"origin": "glpi"})
    await drain(quiet)

    assert await _bot_said(conn, conversation) == [
        f'Update on your ticket {ticket["number"]} "The docking station does not charge": The service desk wrote: '
        "We swapped the display cable."]


async def test_the_requesters_own_comment_is_not_echoed_back(client, conn, make_actor, principal_of, quiet):
    employee = await make_actor()
    conversation, ticket = await _chat_ticket(conn, principal_of, employee)

    r = await client.post(f"/api/v1/tickets/{ticket['number']}/comments", headers=employee.headers,
                          json={"body": "It still does not charge."})
    assert r.status_code == 201, r.text
    await drain(quiet)

    assert await _bot_said(conn, conversation) == []


async def test_a_ticket_from_the_api_has_no_origin_and_the_delivery_says_so(client, conn, make_actor, quiet):
    employee, agent = await make_actor(), await make_actor(Role.admin)
    r = await client.post("/api/v1/tickets", json={"title": "Monitor flickers"}, headers=employee.headers)
    number = r.json()["number"]
    await client.post(f"/api/v1/tickets/{number}/comments", headers=agent.headers, json={"body": "On my way."})
    await drain(quiet)

    rows = await (await conn.execute(
        "SELECT d.status, d.last_error FROM alert_deliveries d JOIN tickets t ON t.id = d.ticket_id "
        "WHERE t.number = %s AND d.channel = 'ORIGIN'", (number,))).fetchall()
    assert [(r["status"], r["last_error"]) for r in rows] == [("skipped", origin.NO_ORIGIN)]


async def test_a_channel_that_refuses_is_retried_then_dead_lettered(
        client, conn, make_actor, principal_of, quiet, monkeypatch: pytest.MonkeyPatch):
    employee, agent = await make_actor(), await make_actor(Role.admin)
    conversation, ticket = await _chat_ticket(conn, principal_of, employee, channel=Channel.slack)
    told: list[dict[str, Any]] = []

    async def refusing(conn_, settings_, *, ticket, conversation, text, buttons=()):  # the Slack API down
        told.append({"ticket": ticket["number"], "conversation": str(conversation["id"]),
                     "ref": conversation["channel_ref"], "text": text})
        raise ChannelDeliveryFailed("Slack answered 503")

    monkeypatch.setattr(origin, "notifier", lambda channel: refusing)
    await client.post(f"/api/v1/tickets/{ticket['number']}/comments", headers=agent.headers, json={"body": "Hi"})
    await drain(quiet.model_copy(update={"alerts_max_attempts": 2}))

    assert [(t["ticket"], t["conversation"], t["ref"]) for t in told] == [
        (ticket["number"], conversation, {"channel": "D1"})] * 2
    row = await (await conn.execute(
        "SELECT status, recipient, last_error FROM alert_deliveries WHERE ticket_id = %s AND channel = 'ORIGIN'",
        (ticket["id"],))).fetchone()
    assert (row["status"], row["recipient"], row["last_error"]) == ("dead", f"slack:{conversation}",
                                                                    "Slack answered 503")


async def test_a_workflow_runs_ticket_answers_in_the_conversation_that_started_it(
        client, conn, make_actor, principal_of):
    employee = await make_actor()
    conversation = await chat.start(conn, channel=Channel.web, employee=employee.user, channel_user=None)
    run = await (await conn.execute(  # a run of the shipped account_unlock (loaded when the app starts)
        "INSERT INTO workflow_runs (definition_id, workflow, requester_id, conversation_id, status) "
        "SELECT id, name, %(requester)s, %(conversation)s, 'cancelled' FROM workflow_definitions "
        "WHERE name = 'account_unlock' ORDER BY version DESC LIMIT 1 RETURNING id",
        {"requester": employee.user.id, "conversation": conversation})).fetchone()
    assert run is not None, "the shipped workflows are loaded when the app starts"
    ticket, _ = await tickets.create(conn, principal=await principal_of(employee), data=TicketCreate(
        title="Unlock jordan", source_type=SourceType.CHATBOT, source_reference=f"workflow-run-{run['id']}"))

    found = await origin.origin_of(conn, ticket_id=ticket.id)

    assert found is not None and (found.channel, str(found.conversation["id"])) == (Channel.web, str(conversation))


def test_an_origin_channel_reaches_the_requester_only():
    assert [r.kind for r in ChannelSpec(channel="ORIGIN").recipients] == ["requester"]
    with pytest.raises(ValueError, match="requester only"):
        ChannelSpec(channel="ORIGIN", recipients=[{"kind": "team"}])
