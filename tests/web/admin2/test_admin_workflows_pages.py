"""The admin pages of workflows over a signed-in session: roles and CSRF, the enable/disable switch seen by the
service, the runs by workflow and status, a run's steps with retry and cancel, and the approvals waiting."""

from __future__ import annotations

import uuid

import httpx
import psycopg
from admin2_support import run_until_it_rests, signed_in

from api.auth.models import Role
from api.settings import Settings
from api.workflows import catalog, engine, service
from api.workflows.definitions import Workflow

WF = "/console/admin/workflows"


async def _unlock_copy(conn: psycopg.AsyncConnection, settings: Settings) -> str:
    """The shipped account_unlock stored under a fresh name (switching it off disturbs no other test)."""
    [shipped] = [w.workflow for w in catalog.load_dir(settings.workflows_dir) if w.workflow.name == "account_unlock"]
    name = f"account_unlock_{uuid.uuid4().hex[:8]}"
    await catalog.sync(conn, [Workflow.model_validate(shipped.model_dump(mode="json") | {"name": name})])
    return name


async def test_employees_are_refused_agents_read_but_do_not_switch_and_a_post_needs_csrf(
        web: httpx.AsyncClient, conn: psycopg.AsyncConnection, web_settings: Settings, make_actor) -> None:
    name = await _unlock_copy(conn, web_settings)
    await signed_in(web, conn, web_settings, make_actor, Role.employee)
    for url in (WF, f"{WF}/runs", f"{WF}/approvals"):
        assert (await web.get(url)).status_code == 403, url

    agent = await signed_in(web, conn, web_settings, make_actor, Role.agent)
    listed = await web.get(WF)
    assert listed.status_code == 200 and f'data-workflow="{name}"' in listed.text
    assert f'action="/console/admin/workflows/{name}/enabled"' not in listed.text
    refused = await web.post(f"{WF}/{name}/enabled", data={"csrf_token": agent.csrf, "enabled": "false"})
    assert refused.status_code == 403 and (await service.get_or_raise(conn, name=name)).enabled

    await signed_in(web, conn, web_settings, make_actor)
    no_token = await web.post(f"{WF}/{name}/enabled", data={"enabled": "false"})
    assert no_token.status_code == 403 and (await service.get_or_raise(conn, name=name)).enabled


async def test_an_admin_disables_and_enables_a_workflow_and_the_service_sees_it(
        web: httpx.AsyncClient, conn: psycopg.AsyncConnection, web_settings: Settings, make_actor) -> None:
    name = await _unlock_copy(conn, web_settings)
    admin = await signed_in(web, conn, web_settings, make_actor)
    page = await web.get(WF)
    assert f'aria-label="Disable {name}"' in page.text
    off = await web.post(f"{WF}/{name}/enabled", data={"csrf_token": admin.csrf, "enabled": "false"})
    assert off.status_code == 303 and off.headers["location"] == f"{WF}?done=disabled"
    assert (await service.get_or_raise(conn, name=name)).enabled is False
    page = await web.get(f"{WF}?done=disabled")
    assert "Workflow disabled." in page.text and f'aria-label="Enable {name}"' in page.text
    bad = await web.post(f"{WF}/{name}/enabled", data={"csrf_token": admin.csrf, "enabled": "maybe"})
    assert bad.status_code == 422 and "valid boolean" in bad.text
    on = await web.post(f"{WF}/{name}/enabled", data={"csrf_token": admin.csrf, "enabled": "true"})
    assert on.status_code == 303 and (await service.get_or_raise(conn, name=name)).enabled is True
    assert (await web.post(f"{WF}/nope_{name}/enabled", data={"csrf_token": admin.csrf, "enabled": "true"})
            ).status_code == 404


async def test_a_failed_run_shows_its_steps_is_retried_then_cancelled(
        web: httpx.AsyncClient, conn: psycopg.AsyncConnection, web_settings: Settings, make_actor) -> None:
    name = await _unlock_copy(conn, web_settings)
    employee = await make_actor(Role.employee)
    run_id = await engine.start(conn, name=name, inputs={"username": "CORP\\jdoe"}, requester_id=employee.user.id)
    assert await run_until_it_rests(web_settings, conn, run_id) == "failed"  # no directory is configured here
    agent = await signed_in(web, conn, web_settings, make_actor, Role.agent)

    runs = await web.get(f"{WF}/runs", params={"workflow": name, "status": "failed"})
    assert runs.status_code == 200 and f'data-run="{run_id}"' in runs.text
    assert f'data-run="{run_id}"' not in (await web.get(f"{WF}/runs", params={"workflow": name,
                                                                             "status": "succeeded"})).text
    page = await web.get(f"{WF}/runs/{run_id}")
    assert page.status_code == 200 and 'data-step="username"' in page.text and 'data-step="find"' in page.text
    assert "No directory connector is configured" in page.text and "Retry from the failed step" in page.text

    retried = await web.post(f"{WF}/runs/{run_id}/retry", data={"csrf_token": agent.csrf})
    assert retried.status_code == 303 and retried.headers["location"] == f"{WF}/runs/{run_id}?done=retried"
    run = await service.get_run(conn, run_id=run_id)
    assert (run.status, run.current_step) == ("running", "find")
    twice = await web.post(f"{WF}/runs/{run_id}/retry", data={"csrf_token": agent.csrf})
    assert twice.status_code == 409 and "cannot be retried" in twice.text and 'id="run-status"' in twice.text

    cancelled = await web.post(f"{WF}/runs/{run_id}/cancel", data={"csrf_token": agent.csrf})
    assert cancelled.status_code == 303
    run = await service.get_run(conn, run_id=run_id)
    assert (run.status, run.reason) == ("cancelled", f"cancelled by {agent.principal.email}")
    await run_until_it_rests(web_settings, conn, run_id)  # its queued step finds the run over
    assert "Nothing to do: the run is cancelled." in (await web.get(f"{WF}/runs/{run_id}")).text


async def test_the_approvals_waiting_are_listed_and_decided(
        web: httpx.AsyncClient, conn: psycopg.AsyncConnection, web_settings: Settings, make_actor, make_team) -> None:
    team = await make_team()
    name = f"needs_ok_{uuid.uuid4().hex[:8]}"
    await catalog.sync(conn, [Workflow.model_validate({
        "name": name, "title": "Needs an OK", "ticket": {"title": "Needs an OK"}, "handoff_team": team,
        "steps": [{"id": "ok", "kind": "approval", "approver": "team", "team": team, "timeout_s": 600},
                  {"id": "done", "kind": "notify", "text": "Approved."}]})])
    member = await signed_in(web, conn, web_settings, make_actor, Role.agent, teams=(team,))  # who decides
    employee = await make_actor(Role.employee)
    run_id = await engine.start(conn, name=name, inputs={}, requester_id=employee.user.id)
    assert await run_until_it_rests(web_settings, conn, run_id) == "waiting", (
        await service.get_run(conn, run_id=run_id)).reason

    page = await web.get(f"{WF}/approvals")
    [approval] = (await service.get_run(conn, run_id=run_id)).approvals
    assert f'data-approval="{approval.id}"' in page.text and f'<tr data-run="{run_id}">' in page.text
    invalid = await web.post(f"{WF}/approvals/{approval.id}/decision",
                             data={"csrf_token": member.csrf, "decision": "perhaps"})
    assert invalid.status_code == 422 and "approve" in invalid.text
    decided = await web.post(f"{WF}/approvals/{approval.id}/decision",
                             data={"csrf_token": member.csrf, "decision": "approve", "comment": "Fine by me"})
    assert decided.status_code == 303 and decided.headers["location"] == f"{WF}/approvals?done=approve"
    [approval] = (await service.get_run(conn, run_id=run_id)).approvals
    assert (approval.status, approval.comment, approval.decided_by) == ("approved", "Fine by me",
                                                                       member.principal.email)
    assert f'data-approval="{approval.id}"' not in (await web.get(f"{WF}/approvals")).text
