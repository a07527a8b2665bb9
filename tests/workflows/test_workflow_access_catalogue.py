"""The access catalogue the bot offers (GET /api/v1/workflows/access_request/catalogue) against the real slapd, and
an access_request started from a chat turn: for the employee's own account, naming who approves it while it waits."""

from __future__ import annotations

from fakes.slapd_server import LAYOUT
from workflows_support import chat_turn, organisation, run_worker

from api.auth.models import Role
from api.workflows import runtime as runtimes

CATALOGUE = "/api/v1/workflows/access_request/catalogue"
PROBLEM = "application/problem+json"


async def test_the_catalogue_lists_the_requestable_groups_of_the_directory_for_a_chat_turn(
        client, conn, make_actor, wired, slapd):
    employee = await make_actor(Role.employee)
    turn = await chat_turn(conn, wired, make_actor, employee)

    listed = await client.get(CATALOGUE, headers=turn)
    as_employee = await client.get(CATALOGUE, headers=employee.headers)

    assert listed.status_code == 200, listed.text
    by_name = {g["name"]: g for g in listed.json()}
    assert by_name["finance-share"] == {"name": "finance-share", "description": "The Finance shared drive",
                                        "dn": f"cn=finance-share,{LAYOUT.requestable}"}
    assert {"vpn-users", "build-agents"} <= set(by_name)
    assert all(g["dn"].endswith(LAYOUT.requestable) for g in listed.json()), "only requestable groups"
    assert as_employee.status_code == 403 and as_employee.headers["content-type"] == PROBLEM


async def test_without_a_directory_the_catalogue_is_a_503_problem(client, conn, make_actor, settings):
    employee = await make_actor(Role.employee)
    turn = await chat_turn(conn, settings, make_actor, employee)
    none = runtimes.default(settings.model_copy(update={"ldap": settings.ldap.model_copy(update={"url": None})}))
    runtimes.install(none)
    try:
        refused = await client.get(CATALOGUE, headers=turn)
    finally:
        runtimes.uninstall(none)

    assert refused.status_code == 503 and refused.headers["content-type"] == PROBLEM
    assert refused.json()["type"] == "/problems/no-directory"


async def test_a_request_from_the_chat_is_for_the_employees_own_account_and_names_the_approver(
        client, conn, make_actor, wired, slapd, smtp):
    employee, manager, admin = (await make_actor(Role.employee), await make_actor(Role.employee),
                                await make_actor(Role.admin))
    uid, _, group = organisation(slapd, employee=employee.user.email, manager=manager.user.email)
    turn = await chat_turn(conn, wired, make_actor, employee)

    started = await client.post("/api/v1/workflows/access_request/runs", headers=turn | {"Idempotency-Key": uid},
                                json={"inputs": {"group_dn": group}})
    await run_worker(wired, conn)
    waiting = await client.get(f"/api/v1/workflows/access_request/runs/{started.json()['id']}", headers=turn)
    run = (await client.get(f"/api/v1/workflows/runs/{started.json()['id']}", headers=admin.headers)).json()

    assert started.status_code == 201, started.text
    assert run["inputs"] == {"username": uid, "group_dn": group}, "the directory account with the employee's address"
    assert started.json()["approver"] is None, "nobody is asked before the approval step ran"
    assert (waiting.json()["status"], waiting.json()["current_step"]) == ("waiting", "approve")
    assert waiting.json()["approver"] == manager.user.name


async def test_a_group_outside_the_catalogue_is_refused_from_the_chat(client, conn, make_actor, wired, slapd, smtp):
    employee, manager = await make_actor(Role.employee), await make_actor(Role.employee)
    organisation(slapd, employee=employee.user.email, manager=manager.user.email)
    turn = await chat_turn(conn, wired, make_actor, employee)
    path = "/api/v1/workflows/access_request/runs"

    typed = await client.post(path, headers=turn, json={"inputs": {"group_dn": f"cn=admins,{LAYOUT.groups}"}})
    spelled = await client.post(path, headers=turn, json={"inputs": {
        "group_dn": f"CN=Finance-Share, {LAYOUT.requestable}"}})
    await run_worker(wired, conn)  # its jobs run here, not in a later test's worker

    assert typed.status_code == 422 and typed.headers["content-type"] == PROBLEM
    assert "not a requestable group" in typed.json()["detail"]
    assert spelled.status_code == 201, spelled.text  # the same dn, spelled differently, is in the catalogue


async def test_from_the_chat_access_is_only_for_the_employees_own_account(client, conn, make_actor, wired, slapd, smtp):
    employee, other, manager = (await make_actor(Role.employee), await make_actor(Role.employee),
                                await make_actor(Role.employee))
    uid, _, group = organisation(slapd, employee=employee.user.email, manager=manager.user.email)
    other_uid, _, _ = organisation(slapd, employee=other.user.email, manager=manager.user.email)
    turn = await chat_turn(conn, wired, make_actor, employee)
    path = "/api/v1/workflows/access_request/runs"

    theirs = await client.post(path, headers=turn, json={"inputs": {"username": other_uid, "group_dn": group}})
    own = await client.post(path, headers=turn, json={"inputs": {"username": f"CORP\\{uid.upper()}", "group_dn": group}})
    await run_worker(wired, conn)  # its jobs run here, not in a later test's worker

    assert theirs.status_code == 403 and theirs.headers["content-type"] == PROBLEM
    assert "your own account" in theirs.json()["detail"]
    assert own.status_code == 201, own.text  # the employee's own account, however it is spelled
