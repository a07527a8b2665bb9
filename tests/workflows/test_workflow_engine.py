"""The engine end to end: runs on the real procrastinate worker against the real test Postgres, with the
in-memory directory as the connector."""

from __future__ import annotations

from workflows_support import define, events_of, run_worker, ticket_of

from api.workflows import catalog, engine, service
from api.workflows.definitions import Workflow


async def test_an_unlock_run_unlocks_verifies_and_resolves_its_ticket_automatically(conn, settings, directory, employee):
    user = directory.add_user("jdoe", locked=True)
    run_id = await engine.start(conn, name="account_unlock", inputs={"username": "CORP\\JDoe"},
                                requester_id=employee.user.id)
    ticket = await ticket_of(conn, run_id)
    assert (ticket["status"], ticket["source_type"], ticket["requester_id"]) == ("new", "CHATBOT", employee.user.id)

    await run_worker(settings, conn)

    assert directory.users[user.dn].locked is False
    assert directory.applied == [("unlock", f"wf-{run_id}-unlock")]
    assert directory.step_ups[0].username == "jdoe"
    run = await service.get_run(conn, run_id=run_id)
    assert (run.status, run.verified, run.reason) == ("succeeded", True, None)
    assert [s.step_id for s in run.steps] == ["username", "find", "known", "step_up", "unlock", "verify", "resolve"]
    assert all(s.status == "succeeded" and s.duration_s is not None for s in run.steps)
    ticket = await ticket_of(conn, run_id)
    assert (ticket["status"], ticket["resolution"]) == ("resolved", "auto")
    steps = [e["after"]["step"] for e in await events_of(conn, ticket["id"]) if e["kind"] == "workflow_step"]
    assert steps == [s.step_id for s in run.steps]


async def test_a_worker_dying_between_the_unlock_and_the_state_write_does_not_unlock_twice(
        conn, settings, directory, employee):
    user = directory.add_user("crash", locked=True)
    directory.die_after_apply.add("unlock")
    run_id = await engine.start(conn, name="account_unlock", inputs={"username": "crash"},
                                requester_id=employee.user.id)
    await run_worker(settings, conn)

    assert directory.applied == [("unlock", f"wf-{run_id}-unlock")]  # applied once
    assert directory.replayed["unlock"] == 1  # the second attempt came with the same key and changed nothing
    assert directory.users[user.dn].locked is False
    run = await service.get_run(conn, run_id=run_id)
    unlock = next(s for s in run.steps if s.step_id == "unlock")
    assert (unlock.attempts, unlock.status) == (2, "succeeded")
    assert (run.status, run.verified) == ("succeeded", True)


async def test_a_directory_that_stays_unavailable_stops_the_run_and_hands_the_ticket_to_the_team(
        conn, settings, directory, employee):
    directory.add_user("busy", locked=True)
    directory.unavailable["unlock"] = -1
    run_id = await engine.start(conn, name="account_unlock", inputs={"username": "busy"},
                                requester_id=employee.user.id)
    await run_worker(settings, conn, workflow_step_attempts=3)

    run = await service.get_run(conn, run_id=run_id)
    assert run.status == "failed" and "unlock" in (run.reason or "") and "busy" in (run.reason or "")
    unlock = next(s for s in run.steps if s.step_id == "unlock")
    assert (unlock.attempts, unlock.status) == (3, "failed")
    ticket = await ticket_of(conn, run_id)
    assert (ticket["status"], ticket["team"], ticket["resolution"]) == ("new", "identity", None)
    note = await (await conn.execute("SELECT body, internal FROM ticket_comments WHERE ticket_id = %s",
                                     (ticket["id"],))).fetchone()
    assert note["internal"] and "- unlock [directory]: failed, 3 attempt(s)" in note["body"]
    assert "- find [directory]: succeeded" in note["body"]


async def test_a_failed_verification_records_verified_false_and_hands_off(conn, settings, directory, employee):
    user = directory.add_user("sticky", locked=True)
    original = directory.unlock

    async def unlock_that_does_not_take(u, *, idempotency_key):
        await original(u, idempotency_key=idempotency_key)
        directory.users[user.dn] = directory.users[user.dn].model_copy(update={"locked": True})

    directory.unlock = unlock_that_does_not_take
    run_id = await engine.start(conn, name="account_unlock", inputs={"username": "sticky"},
                                requester_id=employee.user.id)
    await run_worker(settings, conn)

    run = await service.get_run(conn, run_id=run_id)
    assert (run.status, run.verified) == ("failed", False)
    assert "verification failed" in (run.reason or "")
    assert "resolve" not in [s.step_id for s in run.steps]
    assert (await ticket_of(conn, run_id))["team"] == "identity"


async def test_a_failed_step_up_stops_before_the_directory_is_touched(conn, settings, directory, employee):
    directory.add_user("intruder", locked=True)
    directory.step_up_answer = "failed"
    run_id = await engine.start(conn, name="account_unlock", inputs={"username": "intruder"},
                                requester_id=employee.user.id)
    await run_worker(settings, conn)
    run = await service.get_run(conn, run_id=run_id)
    assert run.status == "failed" and "step-up" in (run.reason or "")
    assert directory.applied == []


async def test_a_later_failure_undoes_the_group_membership(conn, settings, directory, employee):
    user, group = directory.add_user("grp"), directory.add_group("vpn-users")
    name = await define(conn, {
        "name": "grant", "title": "Grant", "inputs": {"username": {}, "group_dn": {}},
        "ticket": {"title": "Grant {inputs.username}"}, "handoff_team": "identity",
        "steps": [
            {"id": "find", "kind": "directory", "operation": "find_user", "args": {"username": "$inputs.username"}},
            {"id": "add", "kind": "directory", "operation": "add_to_group",
             "args": {"user": "$steps.find", "group": {"dn": "$inputs.group_dn", "name": "vpn-users"}},
             "compensate": {"operation": "remove_from_group",
                            "args": {"user": "$steps.find", "group": {"dn": "$inputs.group_dn", "name": "vpn-users"}}}},
            {"id": "check", "kind": "verify", "operation": "get_user", "args": {"dn": "$steps.find.dn"},
             "expect": {"locked": False}},
            {"id": "later", "kind": "directory", "operation": "unlock", "args": {"user": "$steps.find"}},
        ]})
    directory.unavailable["unlock"] = -1
    run_id = await engine.start(conn, name=name, inputs={"username": "grp", "group_dn": group.dn},
                                requester_id=employee.user.id)
    await run_worker(settings, conn, workflow_step_attempts=2)

    assert (user.dn, group.dn) not in directory.members
    assert [op for op, _ in directory.applied] == ["add_to_group", "remove_from_group"]
    run = await service.get_run(conn, run_id=run_id)
    assert (run.status, run.compensated) == ("failed", True)
    assert [(s.step_id, s.phase, s.status) for s in run.steps][-2:] == [
        ("later", "do", "failed"), ("add", "compensate", "succeeded")]


async def test_a_run_keeps_the_version_it_started_with(conn, settings, directory, employee):
    body = {"name": "versioned", "title": "One", "ticket": {"title": "Versioned"}, "handoff_team": "identity",
            "steps": [{"id": "hello", "kind": "ticket", "action": "comment", "text": "version one"}]}
    name = await define(conn, body)
    run_id = await engine.start(conn, name=name, inputs={}, requester_id=employee.user.id)
    two = body | {"name": name, "steps": [{"id": "hello", "kind": "ticket", "action": "comment", "text": "version two"}]}
    assert (await catalog.sync(conn, [Workflow.model_validate(two)]))[name] == 2
    await run_worker(settings, conn)

    run = await service.get_run(conn, run_id=run_id)
    assert run.version == 1 and run.status == "succeeded"
    comments = await (await conn.execute("SELECT body FROM ticket_comments WHERE ticket_id = %s ORDER BY id",
                                          (run.ticket_id,))).fetchall()
    assert comments[0]["body"] == "version one"
    assert (await ticket_of(conn, run_id))["team"] == "identity"  # ended without resolving: to the team



async def test_a_password_reset_delivers_the_password_out_of_band_and_stores_it_nowhere(
        conn, settings, directory, employee):
    user = directory.add_user("forgot")
    run_id = await engine.start(conn, name="password_reset", inputs={"username": "forgot"},
                                requester_id=employee.user.id)
    await run_worker(settings, conn)

    (dn, password), = directory.delivered
    assert dn == user.dn and directory.passwords[user.dn] == password
    assert directory.users[user.dn].must_change_password is True
    run = await service.get_run(conn, run_id=run_id)
    assert (run.status, run.verified, run.results["reset"]) == (
        "succeeded", True, {"must_change_password": True, "delivered_via": "sms", "delivered_to": None})
    stored = await (await conn.execute(
        "SELECT (SELECT count(*) FROM workflow_runs WHERE results::text LIKE %(p)s) "
        "+ (SELECT count(*) FROM workflow_steps WHERE result::text LIKE %(p)s OR error LIKE %(p)s) "
        "+ (SELECT count(*) FROM ticket_events WHERE after::text LIKE %(p)s) "
        "+ (SELECT count(*) FROM ticket_comments WHERE body LIKE %(p)s) AS n", {"p": f"%{password}%"})).fetchone()
    assert stored["n"] == 0
