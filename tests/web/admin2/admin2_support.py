"""Helpers of the admin page tests (alerts, KB, workflows): someone signed in with a role, and their CSRF token;
a workflow run worked until it rests."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import psycopg
from fakes.triage import drain, worker_settings
from signin_support import csrf_of, sign_in

from api.auth import service as people
from api.auth.models import Principal, Role
from api.settings import Settings
from api.workflows import service as workflows

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@dataclass
class SignedIn:
    principal: Principal
    csrf: str


async def signed_in(web: httpx.AsyncClient, conn: psycopg.AsyncConnection, settings: Settings, make_actor,
                    role: Role = Role.admin, teams: tuple[str, ...] = ()) -> SignedIn:
    """A fresh user with ``role`` signed in on ``web``; a staff member's CSRF token read from a page."""
    actor = await make_actor(role, teams=teams)
    await sign_in(web, conn, settings, user_id=actor.user.id)
    principal = await people.principal_by_id(conn, user_id=actor.user.id)  # type: ignore[arg-type]
    if role is Role.employee:
        return SignedIn(principal=principal, csrf="")
    page = await web.get("/console/admin/kb")
    assert page.status_code == 200, page.text
    return SignedIn(principal=principal, csrf=csrf_of(page))


async def run_until_it_rests(settings: Settings, conn: psycopg.AsyncConnection, run_id: int) -> str:
    """Works the workflow queue (one attempt per step) until the run is no longer running; returns its status."""
    worker = worker_settings(settings, workflow_step_attempts=1, workflow_backoff_base_s=0.0)
    for _ in range(10):
        await drain(worker, queues=["workflows"])
        run = await workflows.get_run(conn, run_id=run_id)
        if run.status != "running":
            return run.status
    raise AssertionError(f"run {run_id} is still running after 10 bursts of the worker")
