"""A run waiting at a step-up step: woken at once by a pass, stopped when no pass comes in time. Time moves in the
database (the step's start is moved back, its poll made due); nobody sleeps."""

from __future__ import annotations

import uuid

from workflows_support import run_worker, ticket_of

from api.workflows import engine, service


async def _waiting_run(conn, settings, directory, employee, username: str) -> int:  # type: ignore[no-untyped-def]
    directory.add_user(username, locked=True)
    directory.step_up_answer = "pending"
    run_id = await engine.start(conn, name="account_unlock", inputs={"username": username},
                                requester_id=employee.user.id, conversation_id=str(uuid.uuid4()))
    await run_worker(settings, conn)
    run = await service.get_run(conn, run_id=run_id)
    assert (run.status, run.current_step) == ("running", "step_up")
    return run_id


async def _jobs(conn, run_id: int) -> list[dict]:  # type: ignore[no-untyped-def]
    return list(await (await conn.execute(
        "SELECT args->>'step_id' AS step_id, status::text AS status, scheduled_at > now() AS later "
        "FROM procrastinate_jobs WHERE lock = %s AND status = 'todo' ORDER BY id", (f"workflow-run-{run_id}",))
    ).fetchall())


async def test_a_pass_wakes_the_waiting_run_at_once_instead_of_at_its_next_poll(conn, settings, directory, employee):
    run_id = await _waiting_run(conn, settings, directory, employee, "waker")
    assert await _jobs(conn, run_id) == [{"step_id": "step_up", "status": "todo", "later": True}]  # the 15 s poll
    conversation = (await (await conn.execute("SELECT conversation_id::text AS c FROM workflow_runs WHERE id = %s",
                                              (run_id,))).fetchone())["c"]
    directory.step_up_answer = "passed"

    assert await engine.wake_step_up(conn, conversation_id=conversation) == [run_id]
    assert await _jobs(conn, run_id) == [{"step_id": "step_up", "status": "todo", "later": None}]  # due now
    await run_worker(settings, conn)  # the poll, queued first, would have held the woken job back until it was due

    run = await service.get_run(conn, run_id=run_id)
    assert (run.status, run.verified) == ("succeeded", True)


async def test_a_run_without_a_step_up_pass_in_time_stops_and_goes_to_the_team(conn, settings, directory, employee):
    run_id = await _waiting_run(conn, settings, directory, employee, "silent")
    await conn.execute("UPDATE workflow_steps SET started_at = started_at - interval '14 minutes' "
                       "WHERE run_id = %s AND step_id = 'step_up'", (run_id,))
    await conn.execute("UPDATE procrastinate_jobs SET scheduled_at = now() WHERE lock = %s AND status = 'todo'",
                       (f"workflow-run-{run_id}",))
    await run_worker(settings, conn)
    run = await service.get_run(conn, run_id=run_id)
    assert (run.status, run.current_step) == ("running", "step_up")  # 14 of 15 minutes: still waiting

    await conn.execute("UPDATE workflow_steps SET started_at = started_at - interval '1 minute' "
                       "WHERE run_id = %s AND step_id = 'step_up'", (run_id,))
    await conn.execute("UPDATE procrastinate_jobs SET scheduled_at = now() WHERE lock = %s AND status = 'todo'",
                       (f"workflow-run-{run_id}",))
    await run_worker(settings, conn)

    run = await service.get_run(conn, run_id=run_id)
    assert run.status == "failed"
    assert run.reason is not None and run.reason.startswith("no step-up pass within 15 min")
    step_up = next(s for s in run.steps if s.step_id == "step_up")
    assert step_up.status == "failed" and step_up.attempts == 3
    assert directory.applied == []  # nothing was changed
    ticket = await ticket_of(conn, run_id)
    assert (ticket["status"], ticket["team"], ticket["resolution"]) == ("new", "identity", None)
    note = await (await conn.execute("SELECT body FROM ticket_comments WHERE ticket_id = %s AND internal",
                                     (ticket["id"],))).fetchone()
    assert "no step-up pass within 15 min" in note["body"]
