"""Job pickup: a step's job lets go of the run's lock in the transaction that stores the step, so the next step's
job (deferred in it) can be fetched while the first job is still finishing (docs/workflows.md#performance)."""

from __future__ import annotations

from workflows_support import define

from api.workflows import engine

FLOW = {"name": "pickup", "title": "Pickup", "ticket": {"title": "Pickup"}, "handoff_team": "identity",
        "steps": [{"id": "one", "kind": "ticket", "action": "comment", "text": "one"},
                  {"id": "two", "kind": "ticket", "action": "comment", "text": "two"}]}


async def _fetch(conn, queue: str) -> dict | None:  # type: ignore[no-untyped-def]
    row = await (await conn.execute("SELECT (j).id, (j).args, (j).lock, (j).status::text AS status "
                                    "FROM procrastinate_fetch_job_v2(%s, NULL) j", ([queue],))).fetchone()
    return row if row and row["id"] is not None else None


async def test_the_next_step_can_start_while_the_job_of_the_step_before_is_still_running(
        conn, settings, directory, employee):
    name = await define(conn, FLOW)
    run_id = await engine.start(conn, name=name, inputs={}, requester_id=employee.user.id)
    queue = f"pickup{run_id}"  # this run's jobs only: no worker of another test takes them
    await conn.execute("UPDATE procrastinate_jobs SET queue_name = %s WHERE lock = %s", (queue, f"workflow-run-{run_id}"))
    first = await _fetch(conn, queue)
    assert first is not None and first["args"]["step_id"] == "one"
    assert await _fetch(conn, queue) is None  # nothing else yet

    await engine.run_step(conn, run_id=run_id, step_id="one", attempt=0, settings=settings, job_id=first["id"])
    await conn.execute("UPDATE procrastinate_jobs SET queue_name = %s WHERE args->>'run_id' = %s AND status = 'todo'",
                       (queue, str(run_id)))

    row = await (await conn.execute("SELECT status::text AS status, lock FROM procrastinate_jobs WHERE id = %s",
                                    (first["id"],))).fetchone()
    assert row == {"status": "doing", "lock": None}  # still running (procrastinate has not finished it), lock let go
    second = await _fetch(conn, queue)
    assert second is not None and (second["args"]["step_id"], second["lock"]) == ("two", f"workflow-run-{run_id}")
    for job in (first, second):
        await conn.execute("SELECT procrastinate_finish_job_v1(%s, 'succeeded', true)", (job["id"],))
