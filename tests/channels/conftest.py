"""Fixtures shared by the channels' tests."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import psycopg
import pytest

from api.settings import Settings
from api.workflows import catalog, engine
from api.workflows.definitions import Workflow


@pytest.fixture
def team_approval(conn: psycopg.AsyncConnection) -> Callable[[Settings, str, int], Awaitable[int]]:
    """``await team_approval(settings, team, requester_id)``: the id of the approval request that a one-step team
    approval makes when its step runs (as the worker runs it, with ``settings``)."""

    async def make(settings: Settings, team: str, requester_id: int) -> int:
        name = f"needs_ok_{uuid.uuid4().hex[:8]}"
        await catalog.sync(conn, [Workflow.model_validate({
            "name": name, "title": "Needs an OK", "ticket": {"title": "Needs an OK"}, "handoff_team": team,
            "steps": [{"id": "ok", "kind": "approval", "approver": "team", "team": team, "timeout_s": 600},
                      {"id": "done", "kind": "notify", "text": "Approved."}]})])
        run_id = await engine.start(conn, name=name, inputs={}, requester_id=requester_id)
        await engine.run_step(conn, run_id=run_id, step_id="ok", attempt=0, settings=settings)
        row = await (await conn.execute("SELECT id FROM workflow_approvals WHERE run_id = %s", (run_id,))).fetchone()
        return int(row["id"])

    return make
