"""Software requests (issue #11, built-in workflow 4): the catalogue the bot offers, an item without approval sent
to its team at once, one with approval decided by the manager (the real slapd names them, the approval mail
goes to the SMTP server), a denial, an item outside the catalogue refused from the chat, a catalogue that does
not validate."""

from __future__ import annotations

from pathlib import Path

import pytest
from workflows_support import chat_turn, organisation, run_worker, ticket_of

from api.auth.models import Role
from api.workflows import catalog, engine, service, software
from api.workflows.definitions import Workflow

CATALOGUE = "/api/v1/workflows/software_request/catalogue"
RUNS = "/api/v1/workflows/software_request/runs"
PROBLEM = "application/problem+json"


async def _comments(conn, ticket_id: int) -> dict[bool, list[str]]:  # type: ignore[no-untyped-def]
    """The ticket's comments: internal (True) and public (False)."""
    rows = await (await conn.execute("SELECT body, internal FROM ticket_comments WHERE ticket_id = %s ORDER BY id",
                                     (ticket_id,))).fetchall()
    return {flag: [r["body"] for r in rows if r["internal"] is flag] for flag in (True, False)}


async def test_the_catalogue_lists_the_items_with_their_team_for_a_chat_turn_only(client, conn, make_actor, settings):
    employee = await make_actor(Role.employee)
    turn = await chat_turn(conn, settings, make_actor, employee)

    listed = await client.get(CATALOGUE, headers=turn)
    as_employee = await client.get(CATALOGUE, headers=employee.headers)

    assert listed.status_code == 200, listed.text
    by_slug = {i["slug"]: i for i in listed.json()}
    assert by_slug["slack"] == {"slug": "slack", "name": "Slack", "description": "Team chat (free for every employee)",
                                "needs_approval": False, "team": "applications", "team_name": "Business Applications"}
    assert by_slug["tableau"]["needs_approval"] is True
    assert [i["name"] for i in listed.json()] == sorted((i["name"] for i in listed.json()), key=str.lower)
    assert as_employee.status_code == 403 and as_employee.headers["content-type"] == PROBLEM


async def test_an_item_without_approval_goes_to_its_team_at_once(conn, settings, directory, employee):
    run_id = await engine.start(conn, name="software_request", inputs={"item": "visual-studio-code"},
                                requester_id=employee.user.id)
    await run_worker(settings, conn)

    run = await service.get_run(conn, run_id=run_id)
    ticket = await ticket_of(conn, run_id)
    comments = await _comments(conn, ticket["id"])
    assert (run.status, run.reason) == ("succeeded", None)
    assert "approve" not in run.results, "no approval was asked"
    assert run.results["fulfil"] == {"action": "assign", "team": "workplace"}
    assert (ticket["team"], ticket["status"], ticket["category"]) == ("workplace", "new", "software")
    assert ticket["resolution"] is None, "a person installs it; the run does not resolve the ticket"
    assert any("install Visual Studio Code" in c for c in comments[True])
    assert not any("stopped" in c for c in comments[True]), "the run's end did not hand the ticket elsewhere"
    assert any("Visual Studio Code is with the team" in c for c in comments[False])


async def test_an_item_needing_approval_goes_to_its_team_after_the_manager_approves(
        client, conn, make_actor, wired, slapd, smtp):
    employee, manager = await make_actor(Role.employee), await make_actor(Role.employee)
    organisation(slapd, employee=employee.user.email, manager=manager.user.email)
    turn = await chat_turn(conn, wired, make_actor, employee)

    started = await client.post(RUNS, headers=turn | {"Idempotency-Key": "t1"}, json={"inputs": {"item": "tableau"}})
    await run_worker(wired, conn)
    waiting = await client.get(f"{RUNS}/{started.json()['id']}", headers=turn)
    ticket_waiting = await ticket_of(conn, started.json()["id"])
    [mail] = smtp.sink.received
    [pending] = (await client.get("/api/v1/workflows/approvals", headers=manager.headers)).json()
    decided = await client.post(f"/api/v1/workflows/approvals/{pending['id']}/decision",
                                json={"decision": "approve"}, headers=manager.headers)
    await run_worker(wired, conn)
    done = await client.get(f"{RUNS}/{started.json()['id']}", headers=turn)
    ticket = await ticket_of(conn, started.json()["id"])

    assert started.status_code == 201, started.text
    assert (waiting.json()["status"], waiting.json()["approver"]) == ("waiting", manager.user.name)
    assert ticket_waiting["team"] is None, "nobody is asked to install it before the manager approves"
    assert mail.rcpt_tos == [manager.user.email]
    assert decided.status_code == 200, decided.text
    assert done.json()["status"] == "succeeded" and done.json()["ticket_number"] == ticket["number"]
    assert (ticket["team"], ticket["status"]) == ("applications", "new")


async def test_a_denied_item_tells_the_employee_and_cancels_the_ticket(client, conn, make_actor, wired, slapd, smtp):
    employee, manager = await make_actor(Role.employee), await make_actor(Role.employee)
    organisation(slapd, employee=employee.user.email, manager=manager.user.email)
    run_id = await engine.start(conn, name="software_request", inputs={"item": "adobe-acrobat-pro"},
                                requester_id=employee.user.id)
    await run_worker(wired, conn)
    [pending] = (await client.get("/api/v1/workflows/approvals", headers=manager.headers)).json()
    await client.post(f"/api/v1/workflows/approvals/{pending['id']}/decision",
                      json={"decision": "deny", "comment": "use the free reader"}, headers=manager.headers)
    await run_worker(wired, conn)

    run = await service.get_run(conn, run_id=run_id)
    ticket = await ticket_of(conn, run_id)
    assert (run.status, run.reason) == ("denied", f"denied by {manager.user.email}: use the free reader")
    assert "fulfil" not in run.results
    assert (ticket["status"], ticket["team"]) == ("cancelled", None)
    assert "Your request was denied: use the free reader" in (await _comments(conn, ticket["id"]))[False]


async def test_an_item_outside_the_catalogue_is_refused_from_the_chat(client, conn, make_actor, settings, directory):
    employee = await make_actor(Role.employee)
    turn = await chat_turn(conn, settings, make_actor, employee)

    refused = await client.post(RUNS, headers=turn, json={"inputs": {"item": "bitcoin-miner"}})
    missing = await client.post(RUNS, headers=turn, json={"inputs": {}})

    assert refused.status_code == 422 and refused.headers["content-type"] == PROBLEM
    assert "not in the software catalogue" in refused.json()["detail"]
    assert missing.status_code == 422 and "missing input(s) item" in missing.json()["detail"]


def test_a_catalogue_that_does_not_validate_names_the_file_and_the_problems(tmp_path: Path):
    bad = tmp_path / "software.yml"
    bad.write_text("items:\n  - {slug: Slack!, name: Slack, needs_approval: maybe, team: applications}\n"
                   "  - {slug: zoom, name: Zoom, needs_approval: false, team: apps, colour: blue}\n")
    twice = tmp_path / "twice.yml"
    twice.write_text("items:\n  - {slug: zoom, name: Zoom, needs_approval: false, team: apps}\n"
                     "  - {slug: zoom, name: Zoom 2, needs_approval: true, team: apps}\n")

    with pytest.raises(catalog.DefinitionError) as caught:
        software.load(bad)
    with pytest.raises(catalog.DefinitionError) as doubled:
        software.load(twice)

    assert caught.value.detail.startswith("software.yml: ")
    assert "items.0.slug" in caught.value.detail and "items.0.needs_approval" in caught.value.detail
    assert "items.1.colour" in caught.value.detail
    assert doubled.value.detail == "twice.yml: item slug(s) used twice: zoom"
    assert software.load(tmp_path / "absent.yml") == []


def test_an_assign_step_needs_a_team():
    body = {"name": "x", "title": "X", "ticket": {"title": "X"}, "handoff_team": "applications",
            "steps": [{"id": "give", "kind": "ticket", "action": "assign"}]}

    with pytest.raises(ValueError, match="give team with action: assign"):
        Workflow.model_validate(body)
    assert Workflow.model_validate(body | {"steps": [{"id": "give", "kind": "ticket", "action": "assign",
                                                      "team": "applications"}]})
