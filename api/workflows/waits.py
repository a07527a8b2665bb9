"""Wait steps: the run waits ``seconds`` from when the step first started, or until ``until``. No process sleeps:
the step parks the run (status ``waiting``) and runs again as a job scheduled for the moment it is due
(procrastinate's ``schedule_at``, through the engine's ``again_in_s``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from api import sql
from api.workflows import definitions as d
from api.workflows.context import Context, Outcome

Q = sql.load("api.workflows", "approvals.sql")


async def execute(step: d.WaitStep, ctx: Context) -> Outcome:
    row = await (await ctx.conn.execute(Q.step_started, {"run_id": ctx.run["id"], "step_id": step.id})).fetchone()
    assert row is not None  # the engine claimed the step before running it
    if step.seconds is not None:
        due = row["started_at"] + timedelta(seconds=step.seconds)
    else:
        assert step.until is not None
        due = step.until if step.until.tzinfo else step.until.replace(tzinfo=UTC)
    left = (due - row["now"]).total_seconds()
    if left > 0:
        await ctx.conn.execute(Q.set_run_waiting, {"id": ctx.run["id"]})
        return Outcome(result=None, summary=f"waiting until {_iso(due)}", again_in_s=left)
    return Outcome(result={"waited_until": _iso(due)}, summary=f"waited until {_iso(due)}")


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")
