"""The admin/agent API of workflows and runs: roles, run history, retry and cancel, problem+json errors."""

from __future__ import annotations

from workflows_support import run_worker, ticket_of

from api.auth import assertions
from api.auth.models import Role
from api.channels import Channel
from api.chat import service as chat
from api.errors import NotFound
from api.workflows import engine, service

PROBLEM = "application/problem+json"


async def test_agents_read_workflows_admins_enable_them_employees_see_nothing(client, conn, make_actor, directory,
                                                                              employee):
    agent, admin = await make_actor(Role.agent), await make_actor(Role.admin)
    assert (await client.get("/api/v1/workflows", headers=employee.headers)).status_code == 403
    listed = await client.get("/api/v1/workflows", headers=agent.headers)
    assert "account_unlock" in [w["name"] for w in listed.json()]
    one = (await client.get("/api/v1/workflows/account_unlock", headers=agent.headers)).json()
    assert one["definition"]["steps"][0]["id"] == "username" and one["version"] >= 1

    refused = await client.put("/api/v1/workflows/account_unlock/enabled", json={"enabled": False},
                               headers=agent.headers)
    assert refused.status_code == 403 and refused.headers["content-type"] == PROBLEM
    off = await client.put("/api/v1/workflows/account_unlock/enabled", json={"enabled": False}, headers=admin.headers)
    try:
        assert off.json()["enabled"] is False
        try:
            await engine.start(conn, name="account_unlock", inputs={"username": "x"}, requester_id=employee.user.id)
            raise AssertionError("a disabled workflow started")
        except NotFound:
            pass
    finally:
        await client.put("/api/v1/workflows/account_unlock/enabled", json={"enabled": True}, headers=admin.headers)
    missing = await client.put("/api/v1/workflows/nope/enabled", json={"enabled": True}, headers=admin.headers)
    assert missing.status_code == 404 and missing.headers["content-type"] == PROBLEM


async def test_a_run_shows_its_steps_with_timings_and_can_be_retried_after_it_failed(
        client, conn, settings, make_actor, directory, employee):
    agent = await make_actor(Role.agent)
    user = directory.add_user("retryme", locked=True)
    directory.unavailable["unlock"] = 1
    run_id = await engine.start(conn, name="account_unlock", inputs={"username": "retryme"},
                                requester_id=employee.user.id)
    await run_worker(settings, conn, workflow_step_attempts=1)

    failed = (await client.get(f"/api/v1/workflows/runs/{run_id}", headers=agent.headers)).json()
    assert failed["status"] == "failed" and failed["steps"][-1]["step_id"] == "unlock"
    assert all(s["duration_s"] is not None for s in failed["steps"])
    listed = await client.get("/api/v1/workflows/runs", params={"status": "failed", "workflow": "account_unlock"},
                              headers=agent.headers)
    assert run_id in [r["id"] for r in listed.json()["items"]]
    assert (await client.get(f"/api/v1/workflows/runs/{run_id}", headers=employee.headers)).status_code == 403

    retried = await client.post(f"/api/v1/workflows/runs/{run_id}/retry", headers=agent.headers)
    assert retried.status_code == 202 and retried.json()["status"] == "running"
    await run_worker(settings, conn)
    done = (await client.get(f"/api/v1/workflows/runs/{run_id}", headers=agent.headers)).json()
    assert (done["status"], done["verified"]) == ("succeeded", True)
    assert directory.users[user.dn].locked is False
    assert (await ticket_of(conn, run_id))["resolution"] == "auto"
    again = await client.post(f"/api/v1/workflows/runs/{run_id}/retry", headers=agent.headers)
    assert again.status_code == 409 and "succeeded" in again.json()["detail"]


async def test_cancelling_a_run_stops_it_and_hands_its_ticket_to_the_team(client, conn, settings, make_actor,
                                                                         directory, employee):
    agent = await make_actor(Role.agent)
    directory.add_user("cancelme", locked=True)
    run_id = await engine.start(conn, name="account_unlock", inputs={"username": "cancelme"},
                                requester_id=employee.user.id)
    cancelled = await client.post(f"/api/v1/workflows/runs/{run_id}/cancel", headers=agent.headers)
    assert cancelled.status_code == 200
    assert (cancelled.json()["status"], cancelled.json()["reason"]) == ("cancelled", f"cancelled by {agent.user.email}")
    await run_worker(settings, conn)  # its queued step finds the run over and does nothing
    assert directory.applied == []
    assert (await ticket_of(conn, run_id))["team"] == "identity"
    twice = await client.post(f"/api/v1/workflows/runs/{run_id}/cancel", headers=agent.headers)
    assert twice.status_code == 409 and twice.headers["content-type"] == PROBLEM
    assert (await client.get("/api/v1/workflows/runs/999999999", headers=agent.headers)).status_code == 404


async def test_not_fixed_reopens_the_runs_ticket_for_the_team_once(client, conn, settings, make_actor, directory,
                                                                   employee):
    bot, other = await make_actor(Role.service), await make_actor(Role.employee)
    conversation = str(await chat.start(conn, channel=Channel.web, employee=employee.user, channel_user=None))
    turn = bot.headers | {"X-Deskmate-Assertion": assertions.mint(settings, subject=employee.user.email,
                                                                   conversation_id=conversation)}
    directory.add_user("stuck", locked=True)
    run = await service.start_for_employee(conn, name="account_unlock", inputs={"username": "stuck"},
                                           user_id=employee.user.id, conversation_id=conversation)
    path = f"/api/v1/workflows/account_unlock/runs/{run.id}/not-fixed"
    too_early = await client.post(path, headers=turn)
    await run_worker(settings, conn)
    resolved = await ticket_of(conn, run.id)

    first = await client.post(path, headers=turn)
    again = await client.post(path, headers=turn)
    elsewhere = str(await chat.start(conn, channel=Channel.web, employee=other.user, channel_user=None))
    theirs = await client.post(path, headers=bot.headers | {"X-Deskmate-Assertion": assertions.mint(
        settings, subject=other.user.email, conversation_id=elsewhere)})

    ticket = await ticket_of(conn, run.id)
    notes = await (await conn.execute("SELECT body FROM ticket_comments WHERE ticket_id = %s AND internal "
                                      "AND body LIKE '%%still does not work%%'", (ticket["id"],))).fetchall()
    assert too_early.status_code == 409 and too_early.headers["content-type"] == PROBLEM
    assert (resolved["status"], resolved["resolution"]) == ("resolved", "auto")
    assert first.status_code == again.status_code == 200, first.text
    assert first.json()["status"] == "succeeded" and first.json()["verified"] is True
    assert (ticket["status"], ticket["resolution"], ticket["team"]) == ("new", None, "identity")
    assert len(notes) == 1 and "What it did:" in notes[0]["body"]
    assert theirs.status_code == 404
