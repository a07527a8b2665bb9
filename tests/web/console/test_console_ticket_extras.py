"""The ticket page's "Similar resolved tickets" (api/kb/similar.py) and "Workflow runs" (api/workflows) sections,
over a signed-in agent's session."""

from __future__ import annotations

import re
import uuid

import httpx
import psycopg
import pytest
from console_support import Desk, signed_in_agent, team_ticket
from fakes.triage import drain, worker_settings
from fastapi import FastAPI

import kb_index
from api import jobs
from api.auth import service as people
from api.auth.models import Principal, Role
from api.jobs import registry
from api.kb import similar
from api.kb.service import Kb
from api.settings import Settings
from api.tickets import service as tickets
from api.tickets.models import Assignment, CommentCreate, Ticket, TicketCreate, Transition

PROBLEM = "The Zebra ZD421 label printer in warehouse B prints faded, unreadable barcodes"


@pytest.fixture
async def kb(web_asgi: tuple[FastAPI, object], web_settings: Settings, conn: psycopg.AsyncConnection) -> Kb:
    """The app's knowledge base (its embedder), with the test connection able to pass vectors."""
    await kb_index.register(conn)
    return Kb(embedder=web_asgi[0].state.kb_embedder, llm=None, settings=web_settings)


async def _resolve(conn: psycopg.AsyncConnection, by: Principal, ticket: Ticket, reason: str) -> None:
    await tickets.assign(conn, principal=by, ref=ticket.id, data=Assignment(assignee_id=by.id))  # type: ignore[arg-type]
    await tickets.transition(conn, principal=by, ref=ticket.id,  # type: ignore[arg-type]
                             data=Transition.model_validate({"status": "resolved", "reason": reason or None}))


def _listed(page: httpx.Response) -> list[str]:
    return re.findall(r'data-similar="([^"]+)"', page.text)


async def _other_team_ticket(conn: psycopg.AsyncConnection, desk: Desk, make_actor, make_team, title: str) -> Ticket:
    """A ticket of another team, resolved by that team's agent: the desk's agent may not see it."""
    team = await make_team()
    other = await people.principal_by_id(conn, user_id=(await make_actor(Role.agent, teams=(team,))).user.id)
    ticket, _ = await tickets.create(conn, principal=other, data=TicketCreate(  # type: ignore[arg-type]
        title=title, description="", team=team, requester_id=desk.employee_id))
    await _resolve(conn, other, ticket, "Replaced the print head.")  # type: ignore[arg-type]
    return ticket


async def test_similar_resolved_tickets_rank_the_near_duplicate_first_and_only_what_the_agent_may_see(
        web: httpx.AsyncClient, conn: psycopg.AsyncConnection, web_settings: Settings, make_actor, make_team,
        kb: Kb) -> None:
    desk = await signed_in_agent(web, conn, web_settings, make_actor, make_team)
    ticket = await team_ticket(conn, desk, PROBLEM, "Since this morning every label is pale.")
    duplicate = await team_ticket(conn, desk, "Zebra ZD421 label printer in warehouse B: barcodes print faded",
                                  "The scanners cannot read the labels.")
    await _resolve(conn, desk.agent, duplicate, "Raised the print darkness to 25 and cleaned the print head.")
    loose = await team_ticket(conn, desk, "Label printer in warehouse A is offline")
    await _resolve(conn, desk.agent, loose, "Plugged the network cable back in.")
    still_open = await team_ticket(conn, desk, PROBLEM + " again")
    hidden = await _other_team_ticket(conn, desk, make_actor, make_team, PROBLEM + " too")

    assert await similar.embed_resolved(conn, kb) >= 3
    stored = await (await conn.execute("SELECT computed_at FROM kb_ticket_vectors WHERE ticket_id = %s",
                                       (duplicate.id,))).fetchone()
    assert stored is not None
    await similar.embed_resolved(conn, kb, limit=10_000)  # the text did not change: its vector is kept
    again = await (await conn.execute("SELECT computed_at FROM kb_ticket_vectors WHERE ticket_id = %s",
                                      (duplicate.id,))).fetchone()
    assert again == stored

    page = await web.get(f"/console/tickets/{ticket.number}")
    assert page.status_code == 200, page.text
    listed = _listed(page)
    assert listed[0] == duplicate.number
    assert "Raised the print darkness to 25 and cleaned the print head." in page.text
    assert f'href="/console/tickets/{duplicate.number}"' in page.text
    assert ticket.number not in listed and still_open.number not in listed and hidden.number not in listed

    admin = await people.principal_by_id(conn, user_id=(await make_actor(Role.admin)).user.id)
    seen_by_admin = await similar.similar_resolved(conn, kb, principal=admin, ticket_ref=ticket.number, k=20)
    assert hidden.number in [t.number for t in seen_by_admin]  # only the visibility rule kept it off the page


async def test_the_worker_embeds_resolved_tickets_every_ten_minutes(
        conn: psycopg.AsyncConnection, web_settings: Settings, make_actor, make_team) -> None:
    assert "api.kb.tasks" in registry.TASK_MODULES and "kb" in jobs.QUEUES
    periodic = [p for p in jobs.make_app().periodic_registry.periodic_tasks.values()
                if p.task.name == "kb.embed_resolved"]
    assert periodic and periodic[0].cron == "*/10 * * * *" and periodic[0].task.queue == "kb"

    team = await make_team()
    agent = await people.principal_by_id(conn, user_id=(await make_actor(Role.agent, teams=(team,))).user.id)
    ticket, _ = await tickets.create(conn, principal=agent, data=TicketCreate(  # type: ignore[arg-type]
        title="Docking station does not charge the laptop", description="", team=team,
        requester_id=(await make_actor(Role.employee)).user.id))
    await _resolve(conn, agent, ticket, "Firmware update of the dock.")  # type: ignore[arg-type]
    await jobs.defer(conn, "kb.embed_resolved", queue="kb", timestamp=0)
    await drain(worker_settings(web_settings), queues=["kb"])
    stored = await (await conn.execute("SELECT text_hash FROM kb_ticket_vectors WHERE ticket_id = %s",
                                       (ticket.id,))).fetchone()
    assert stored == {"text_hash": similar.text_hash(ticket.title, ticket.description)}


async def test_the_last_public_comment_tells_how_a_ticket_without_a_reason_was_resolved(
        web: httpx.AsyncClient, conn: psycopg.AsyncConnection, web_settings: Settings, make_actor, make_team,
        kb: Kb) -> None:
    desk = await signed_in_agent(web, conn, web_settings, make_actor, make_team)
    word = uuid.uuid4().hex[:6]
    ticket = await team_ticket(conn, desk, f"Teams meeting room {word} camera shows a black picture")
    duplicate = await team_ticket(conn, desk, f"Camera in Teams meeting room {word} shows only a black image")
    await tickets.add_comment(conn, principal=desk.agent, ref=duplicate.id,  # type: ignore[arg-type]
                              data=CommentCreate(body="Opened the privacy shutter on the camera."))
    await tickets.add_comment(conn, principal=desk.agent, ref=duplicate.id,  # type: ignore[arg-type]
                              data=CommentCreate(body="Internal: third time this month", internal=True))
    await _resolve(conn, desk.agent, duplicate, "")
    await similar.embed_resolved(conn, kb)

    page = await web.get(f"/console/tickets/{ticket.number}")
    assert _listed(page)[0] == duplicate.number
    assert "Opened the privacy shutter on the camera." in page.text and "third time this month" not in page.text


async def test_workflow_runs_of_the_ticket_are_shown_with_their_steps_and_approvals(
        web: httpx.AsyncClient, conn: psycopg.AsyncConnection, web_settings: Settings, make_actor, make_team) -> None:
    desk = await signed_in_agent(web, conn, web_settings, make_actor, make_team)
    ticket = await team_ticket(conn, desk, "Unlock my account please")
    without = await team_ticket(conn, desk, "Nothing automated here")
    run = await (await conn.execute(
        "INSERT INTO workflow_runs (definition_id, workflow, status, requester_id, ticket_id, verified, reason) "
        "SELECT id, name, 'failed', %s, %s, true, 'the directory refused' FROM workflow_definitions "
        "WHERE name = 'account_unlock' ORDER BY version DESC LIMIT 1 RETURNING id",
        (desk.employee_id, ticket.id))).fetchone()
    assert run is not None
    for step, status, error in (("verify", "succeeded", None), ("unlock", "failed", "LDAP: insufficient access")):
        await conn.execute(
            "INSERT INTO workflow_steps (run_id, step_id, kind, idempotency_key, status, attempts, finished_at, error) "
            "VALUES (%s, %s, 'code', %s, %s, 1, now(), %s)", (run["id"], step, uuid.uuid4().hex, status, error))
    await conn.execute(
        "INSERT INTO workflow_approvals (run_id, step_id, approver, role, status, link_nonce, expires_at, decided_by, "
        "decided_via, decided_at) VALUES (%s, 'approve', 'role', 'admin', 'approved', 'n', now() + interval '1 day', "
        "'boss@example.com', 'api', now())", (run["id"],))

    page = await web.get(f"/console/tickets/{ticket.number}")
    assert page.status_code == 200
    section = page.text[page.text.index('id="runs-h"'):]
    assert f'data-run="{run["id"]}"' in section and "account_unlock" in section and "failed" in section
    assert re.search(r'data-step="verify">verify: succeeded', section)
    assert re.search(r'data-step="unlock">unlock: failed — LDAP: insufficient access', section)
    assert "boss@example.com" in section and "the directory refused" in section

    assert 'id="runs-h"' not in (await web.get(f"/console/tickets/{without.number}")).text
