"""Approval and wait steps (issue #11): access_request against the real slapd, the approver's e-mail read from the
SMTP server and its signed link followed; decisions in the app; timeouts and waits driven by making their job due."""

from __future__ import annotations

import re
import time
from urllib.parse import urlsplit

import pytest
from pydantic import SecretStr, ValidationError
from workflows_support import define, expire_approval, members, organisation, run_worker, ticket_of

from api.auth.models import Role
from api.settings import Settings
from api.stepup.settings import StepUpSettings
from api.workflows import approval_links as links
from api.workflows import engine, service

PROBLEM = "application/problem+json"


def _links(text: str) -> tuple[str, str]:
    """The approve and deny links of an approval e-mail, as paths for the test client."""
    found = dict(re.findall(r"^(Approve|Deny): (\S+)", text, re.MULTILINE))
    return tuple(f"{urlsplit(found[k]).path}?{urlsplit(found[k]).query}" for k in ("Approve", "Deny"))  # type: ignore[return-value]


async def test_the_manager_approves_by_the_e_mail_link_and_the_requester_is_really_in_the_group(
        client, conn, make_actor, wired, smtp, slapd):
    employee, manager, admin = (await make_actor(Role.employee), await make_actor(Role.employee),
                                await make_actor(Role.admin))
    uid, dn, group = organisation(slapd, employee=employee.user.email, manager=manager.user.email)
    run_id = await engine.start(conn, name="access_request", inputs={"username": uid, "group_dn": group},
                                requester_id=employee.user.id)
    await run_worker(wired, conn)

    waiting = await client.get("/api/v1/workflows/runs?status=waiting&limit=100", headers=admin.headers)
    inbox = await client.get("/api/v1/notifications", headers=manager.headers)
    # the manager's mail only: the worker also runs what earlier tests queued and left (their mails are not ours)
    [mail] = [m for m in smtp.sink.received if m.rcpt_tos == [manager.user.email]]
    approve, deny = _links(mail.message.get_content())
    page = await client.get(approve)
    tampered = await client.post(approve.replace("t=", "t=x", 1))
    decided = await client.post(approve, data={"comment": "fine for this quarter"})
    reused, other = await client.post(approve), await client.post(deny)
    await run_worker(wired, conn)
    run = (await client.get(f"/api/v1/workflows/runs/{run_id}", headers=admin.headers)).json()

    assert run_id in [r["id"] for r in waiting.json()["items"]]
    assert mail.rcpt_tos == [manager.user.email] and uid in mail.message["Subject"]
    assert [n["ticket_id"] for n in inbox.json()] == [run["ticket_id"]]
    assert page.status_code == 200 and "<button type='submit'>Approve</button>" in page.text
    assert tampered.status_code == 403 and tampered.headers["content-type"] == PROBLEM
    assert tampered.json()["type"] == "/problems/approval-link-invalid"
    assert decided.status_code == 200, decided.text
    assert reused.status_code == other.status_code == 409 and reused.json()["type"] == "/problems/approval-decided"
    assert dn in members(slapd, group), "the directory should list the requester in the group"
    assert (run["status"], run["verified"]) == ("succeeded", True)
    [approval] = run["approvals"]
    assert (approval["status"], approval["decided_by"], approval["decided_via"], approval["comment"]) == (
        "approved", manager.user.email, "link", "fine for this quarter")
    assert run["results"]["approve"]["by"] == manager.user.email
    assert "link_nonce" not in approval


async def test_the_manager_denies_in_the_app_and_the_requester_is_told_and_not_added(client, conn, make_actor, wired,
                                                                                      smtp, slapd):
    employee, manager, stranger = (await make_actor(Role.employee), await make_actor(Role.employee),
                                   await make_actor(Role.agent))
    uid, dn, group = organisation(slapd, employee=employee.user.email, manager=manager.user.email)
    run_id = await engine.start(conn, name="access_request", inputs={"username": uid, "group_dn": group},
                                requester_id=employee.user.id)
    await run_worker(wired, conn)

    [pending] = (await client.get("/api/v1/workflows/approvals", headers=manager.headers)).json()
    decision = f"/api/v1/workflows/approvals/{pending['id']}/decision"
    by_stranger = await client.post(decision, json={"decision": "approve"}, headers=stranger.headers)
    read_by_stranger = await client.get(f"/api/v1/workflows/approvals/{pending['id']}", headers=stranger.headers)
    by_requester = await client.post(decision, json={"decision": "approve"}, headers=employee.headers)
    extra = await client.post(decision, json={"decision": "deny", "by": "someone"}, headers=manager.headers)
    denied = await client.post(decision, json={"decision": "deny", "comment": "Finance staff only"},
                               headers=manager.headers)
    again = await client.post(decision, json={"decision": "approve"}, headers=manager.headers)
    await run_worker(wired, conn)

    run = await service.get_run(conn, run_id=run_id)
    ticket = await ticket_of(conn, run_id)
    told = await (await conn.execute("SELECT body FROM ticket_comments WHERE ticket_id = %s AND NOT internal",
                                     (ticket["id"],))).fetchall()
    assert pending["run_id"] == run_id and pending["requester_email"] == employee.user.email
    assert by_stranger.status_code == read_by_stranger.status_code == by_requester.status_code == 404
    assert by_stranger.headers["content-type"] == PROBLEM and extra.status_code == 422
    assert denied.status_code == 200 and denied.json()["decided_by"] == manager.user.email
    assert again.status_code == 409
    assert (run.status, run.reason) == ("denied", f"denied by {manager.user.email}: Finance staff only")
    assert run.approvals[0].decided_via == "api"
    assert dn not in members(slapd, group)
    assert ticket["status"] == "cancelled"
    assert "Your request was denied: Finance staff only" in [c["body"] for c in told]


def _team_approval(team: str, on_timeout: str) -> dict:
    return {"name": "needs_ok", "title": "Needs an OK", "ticket": {"title": "Needs an OK"}, "handoff_team": team,
            "steps": [{"id": "ok", "kind": "approval", "approver": "team", "team": team, "timeout_s": 600,
                       "on_timeout": on_timeout},
                      {"id": "done", "kind": "notify", "text": "Approved."}]}


@pytest.mark.parametrize(("on_timeout", "status", "ticket_status"), [("handoff", "failed", "new"),
                                                                    ("deny", "denied", "cancelled")])
async def test_an_approval_not_decided_in_time_applies_on_timeout(client, conn, settings, directory, employee,
                                                                  make_actor, make_team, on_timeout, status,
                                                                  ticket_status):
    team = await make_team()
    member = await make_actor(Role.agent, teams=(team,))
    run_id = await engine.start(conn, name=await define(conn, _team_approval(team, on_timeout)), inputs={},
                                requester_id=employee.user.id)
    await run_worker(settings, conn)
    parked = await service.get_run(conn, run_id=run_id)
    [pending] = (await client.get("/api/v1/workflows/approvals", headers=member.headers)).json()

    approval_id = await expire_approval(conn, run_id)
    late = await client.post(f"/api/v1/workflows/approvals/{approval_id}/decision", json={"decision": "approve"},
                             headers=member.headers)
    expired_link = links.sign(settings, links.Link(approval_id=approval_id, decision="approve", nonce="n",
                                                   recipient=member.user.email, expires_at=int(time.time()) - 1))
    by_expired_link = await client.post(f"{links.PATH}?t={expired_link}")
    await run_worker(settings, conn)
    after = await client.post(f"/api/v1/workflows/approvals/{approval_id}/decision", json={"decision": "approve"},
                              headers=member.headers)

    run = await service.get_run(conn, run_id=run_id)
    ticket = await ticket_of(conn, run_id)
    assert (parked.status, parked.current_step, pending["id"]) == ("waiting", "ok", approval_id)
    assert late.status_code == 409 and late.json()["type"] == "/problems/approval-expired"
    assert by_expired_link.status_code == 410
    assert after.status_code == 409 and after.json()["type"] == "/problems/approval-decided"
    assert (run.status, run.approvals[0].status, run.approvals[0].decided_via) == (status, "timed_out", "timeout")
    assert "not decided within 600 s" in (run.reason or "")
    assert (ticket["status"], ticket["team"]) == (ticket_status, team if on_timeout == "handoff" else None)
    assert not [s for s in run.steps if s.step_id == "done"], "the run must not go on"


async def test_a_wait_step_parks_the_run_until_its_scheduled_job_is_due(conn, settings, directory, employee):
    name = await define(conn, {
        "name": "pause", "title": "Pause", "ticket": {"title": "Pause"}, "handoff_team": "identity",
        "steps": [{"id": "hour", "kind": "wait", "seconds": 3600},
                  {"id": "past", "kind": "wait", "until": "2020-01-01T00:00:00"},
                  {"id": "tell", "kind": "notify", "text": "Waited."}]})
    run_id = await engine.start(conn, name=name, inputs={}, requester_id=employee.user.id)
    await run_worker(settings, conn)
    parked = await service.get_run(conn, run_id=run_id)
    job = await (await conn.execute(
        "SELECT scheduled_at - now() AS due_in FROM procrastinate_jobs WHERE lock = %s AND status = 'todo'",
        (f"workflow-run-{run_id}",))).fetchone()

    await conn.execute("UPDATE workflow_steps SET started_at = started_at - interval '1 hour' WHERE run_id = %s",
                       (run_id,))
    await conn.execute("UPDATE procrastinate_jobs SET scheduled_at = now() WHERE lock = %s AND status = 'todo'",
                       (f"workflow-run-{run_id}",))
    await run_worker(settings, conn)
    run = await service.get_run(conn, run_id=run_id)

    assert (parked.status, parked.current_step) == ("waiting", "hour")
    assert job is not None and 3500 < job["due_in"].total_seconds() <= 3600
    assert run.status == "succeeded"
    assert [s.step_id for s in run.steps] == ["hour", "past", "tell"]
    assert run.results["past"] == {"waited_until": "2020-01-01T00:00:00+00:00"}


def test_production_needs_a_key_for_the_approval_links(settings):
    own_keys = {"env": "production", "database_url": "postgresql://x/y", "session_keys": "k" * 40,
                "encryption_keys": "e" * 44, "assertion_key": "a" * 40, "rasa_channel_secret": "c" * 40,
                "actions_secret": "s" * 40, "stepup": StepUpSettings(key=SecretStr("h" * 40), _env_file=None),
                "_env_file": None}
    with pytest.raises(ValidationError, match="DESKMATE_WORKFLOW_APPROVAL_KEY"):
        Settings(**own_keys)
    ok = Settings(**own_keys, workflow_approval_key="w" * 40)
    link = links.Link(approval_id=1, decision="deny", nonce="n", recipient="m@example.com",
                      expires_at=int(time.time()) + 60)
    with pytest.raises(links.LinkInvalid):
        links.verify(settings, links.sign(ok, link))  # signed with another key
    assert links.verify(ok, links.sign(ok, link)) == link


async def test_a_waiting_run_can_be_cancelled_and_its_request_no_longer_decided(client, conn, settings, directory,
                                                                                employee, make_actor, make_team):
    team = await make_team()
    member, agent = await make_actor(Role.agent, teams=(team,)), await make_actor(Role.agent)
    run_id = await engine.start(conn, name=await define(conn, _team_approval(team, "deny")), inputs={},
                                requester_id=employee.user.id)
    await run_worker(settings, conn)
    [pending] = (await client.get("/api/v1/workflows/approvals", headers=member.headers)).json()

    cancelled = await client.post(f"/api/v1/workflows/runs/{run_id}/cancel", headers=agent.headers)
    late = await client.post(f"/api/v1/workflows/approvals/{pending['id']}/decision", json={"decision": "approve"},
                             headers=member.headers)
    inbox = await client.get("/api/v1/workflows/approvals", headers=member.headers)

    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert late.status_code == 409 and "no longer waits" in late.json()["detail"]
    assert inbox.json() == []


async def test_nobody_approves_their_own_request(client, conn, settings, directory, make_actor, make_team):
    team = await make_team()
    requester, colleague = await make_actor(Role.agent, teams=(team,)), await make_actor(Role.agent, teams=(team,))
    run_id = await engine.start(conn, name=await define(conn, _team_approval(team, "deny")), inputs={},
                                requester_id=requester.user.id)
    await run_worker(settings, conn)
    [pending] = (await client.get("/api/v1/workflows/approvals", headers=colleague.headers)).json()

    own_inbox = await client.get("/api/v1/workflows/approvals", headers=requester.headers)
    own = await client.post(f"/api/v1/workflows/approvals/{pending['id']}/decision", json={"decision": "approve"},
                            headers=requester.headers)
    told = await (await conn.execute("SELECT user_id FROM notifications WHERE ticket_id = %s",
                                     ((await ticket_of(conn, run_id))["id"],))).fetchall()

    assert own_inbox.json() == [] and own.status_code == 403
    assert [r["user_id"] for r in told] == [colleague.user.id]
    assert (await service.get_run(conn, run_id=run_id)).approvals[0].status == "pending"
