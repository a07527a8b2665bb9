"""A worker killed mid-step (SIGKILL) and a new one started: the run resumes and finishes, each step recorded
once, the directory changed once, the ticket resolved. Real processes (`deskmate worker` on the workflows
queue), the real slapd behind a proxy that tells the test when the unlock is in flight; no sleeps."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import uuid
from collections.abc import Callable, Iterator

import psycopg
import pytest
from fakes.slapd_server import LAYOUT, PASSWORDS, Slapd
from fakes.waiting import wait_until
from fakes.workers import worker_processes
from ldap_proxy_support import MODIFY, LdapProxy
from psycopg.rows import dict_row
from workflows_support import define, events_of, ticket_of

from api.auth.models import Role
from api.settings import Settings
from api.workflows import engine

UNLOCK_FLOW = {
    "name": "resume_unlock", "title": "Unlock", "inputs": {"username": {}},
    "ticket": {"title": "Unlock {inputs.username}"}, "handoff_team": "identity",
    "steps": [
        {"id": "find", "kind": "directory", "operation": "find_user", "args": {"username": "$inputs.username"}},
        {"id": "unlock", "kind": "directory", "operation": "unlock", "args": {"user": "$steps.find"}},
        {"id": "verify", "kind": "verify", "operation": "get_user", "args": {"dn": "$steps.find.dn"},
         "expect": {"locked": False}},
        {"id": "resolve", "kind": "ticket", "action": "resolve", "text": "Unlocked."},
    ]}


@pytest.fixture
def proxy(slapd: Slapd) -> Iterator[LdapProxy]:
    with LdapProxy(slapd.url) as running:
        yield running


@pytest.fixture
def spawn(settings: Settings, proxy: LdapProxy) -> Iterator[Callable[[], subprocess.Popen[bytes]]]:
    """Starts `deskmate worker --queue workflows` processes (directory: the proxy in front of slapd, a short
    heartbeat, the default concurrency); kills what is left afterwards."""
    assert settings.database_url is not None
    env = {**os.environ, "DATABASE_URL": settings.database_url.get_secret_value(), "DESKMATE_ENV": "test",
           "DESKMATE_DATA_DIR": str(settings.data_dir), "DESKMATE_LOG_LEVEL": "WARNING",
           "DESKMATE_WORKER_HEARTBEAT_S": "0.5", "DESKMATE_WORKER_STALLED_S": "2",
           "DESKMATE_LDAP_URL": proxy.url, "DESKMATE_LDAP_BIND_DN": LAYOUT.service("deskmate"),
           "DESKMATE_LDAP_BIND_PASSWORD": PASSWORDS["deskmate"], "DESKMATE_LDAP_USERS_BASE": LAYOUT.people,
           "DESKMATE_LDAP_GROUPS_BASE": LAYOUT.groups, "DESKMATE_LDAP_PPOLICY_DN": LAYOUT.policy,
           "DESKMATE_LDAP_TIMEOUT_S": "120"}

    with worker_processes(env, queue="workflows") as start:
        yield start


def _locked_account(slapd: Slapd) -> tuple[str, str]:
    uid = f"rs{uuid.uuid4().hex[:8]}"
    dn = LAYOUT.person(uid)
    admin = slapd.admin()
    try:
        admin.add(dn, ["inetOrgPerson"], {"uid": uid, "cn": uid, "sn": uid, "mail": f"{uid}@deskmate.test",
                                          "userPassword": "pw-" + uid})
    finally:
        admin.unbind()
    assert [slapd.bind(dn, "wrong") for _ in range(3)] == [False] * 3 and not slapd.bind(dn, "pw-" + uid)
    return uid, dn


def _locked(slapd: Slapd, dn: str) -> bool:
    admin = slapd.admin()
    try:
        admin.search(dn, "(objectClass=*)", attributes=["pwdAccountLockedTime"])
        return bool(admin.entries[0].entry_attributes_as_dict.get("pwdAccountLockedTime"))
    finally:
        admin.unbind()


@pytest.mark.parametrize("applied", [True, False], ids=["after-slapd-applied-it", "before-slapd-saw-it"])
async def test_a_worker_killed_mid_unlock_resumes_in_a_new_worker_and_unlocks_once(
        conn, settings, slapd, proxy, spawn, make_actor, applied):
    # Earlier tests may leave workflow jobs waiting (step-up polls): not this test's business.
    await conn.execute("SELECT procrastinate_cancel_job_v1(id, false, false) FROM procrastinate_jobs "
                       "WHERE status = 'todo' AND queue_name = 'workflows'")
    uid, dn = _locked_account(slapd)
    name = await define(conn, UNLOCK_FLOW)
    employee = await make_actor(Role.employee)
    unlock_of_dn = dn.encode()
    proxy.hold(lambda op, raw: op == MODIFY and unlock_of_dn in raw and b"pwdAccountLockedTime" in raw,
               applied=applied)
    run_id = await engine.start(conn, name=name, inputs={"username": uid}, requester_id=employee.user.id)

    first = spawn()
    assert await asyncio.to_thread(proxy.held.wait, 90), "the first worker never got to the unlock"
    os.kill(first.pid, signal.SIGKILL)
    assert first.wait(10) == -signal.SIGKILL
    assert _locked(slapd, dn) is not applied  # the change is in the directory exactly when slapd got it
    run = await (await conn.execute("SELECT status, current_step FROM workflow_runs WHERE id = %s", (run_id,))).fetchone()
    assert run == {"status": "running", "current_step": "unlock"}
    job = await (await conn.execute("SELECT status FROM procrastinate_jobs WHERE lock = %s AND args->>'step_id' = 'unlock'",
                                    (f"workflow-run-{run_id}",))).fetchone()
    assert job["status"] == "doing"  # left by the dead worker: the next one recovers it

    second = spawn()
    assert settings.database_url is not None
    with psycopg.connect(settings.database_url.get_secret_value(), autocommit=True, row_factory=dict_row) as sync:
        wait_until(lambda: sync.execute("SELECT status FROM workflow_runs WHERE id = %s", (run_id,)).fetchone()["status"]
              != "running", 90, "the run to finish in the second worker")
    second.send_signal(signal.SIGTERM)
    assert second.wait(30) == 0

    run = await (await conn.execute("SELECT status, verified, reason FROM workflow_runs WHERE id = %s",
                                    (run_id,))).fetchone()
    assert run == {"status": "succeeded", "verified": True, "reason": None}
    steps = await (await conn.execute("SELECT step_id, status, attempts, idempotency_key FROM workflow_steps "
                                      "WHERE run_id = %s ORDER BY id", (run_id,))).fetchall()
    assert [(s["step_id"], s["status"], s["attempts"]) for s in steps] == [
        ("find", "succeeded", 1), ("unlock", "succeeded", 2), ("verify", "succeeded", 1), ("resolve", "succeeded", 1)]
    assert steps[1]["idempotency_key"] == f"wf-{run_id}-unlock"  # the same key on the replay
    # slapd got the unlock once, or, killed after slapd applied it, once more with the same key: replacing the
    # lock with nothing again leaves the entry as one unlock did (api/integrations/directory.py).
    assert proxy.count(MODIFY, b"pwdAccountLockedTime") == (2 if applied else 1)
    assert not _locked(slapd, dn) and slapd.bind(dn, "pw-" + uid)
    ticket = await ticket_of(conn, run_id)
    assert (ticket["status"], ticket["resolution"]) == ("resolved", "auto")
    recorded = [(e["after"]["step"], e["after"]["status"]) for e in await events_of(conn, ticket["id"])
                if e["kind"] == "workflow_step"]
    assert recorded == [("find", "succeeded"), ("unlock", "succeeded"), ("verify", "succeeded"),
                        ("resolve", "succeeded")]
