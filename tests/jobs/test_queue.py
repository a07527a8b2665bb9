"""The job queue: procrastinate's schema through our migrations, jobs queued in the ticket's own
transaction (or not at all) with one ordered lock per ticket, no App at import time."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
from importlib import resources

import pytest

from api import jobs
from api.settings import REPO_ROOT
from api.tickets import service as tickets
from api.tickets.models import TicketCreate

MIGRATIONS = REPO_ROOT / "migrations"


def test_the_queue_schema_is_procrastinates_own_and_current():
    texts = [p.read_text() for p in sorted(MIGRATIONS.glob("*.sql"))]
    declared = [v for t in texts for v in re.findall(r"^-- procrastinate-version: (\S+)$", t, re.M)]
    installed = importlib.metadata.version("procrastinate")
    assert declared and declared[-1] == installed, (
        f"procrastinate {installed} is installed but the migrations stop at {declared[-1:]}: add its "
        "sql/migrations files since then as a new numbered migration with a '-- procrastinate-version:' line")
    jobs_sql = (MIGRATIONS / "0003_jobs.sql").read_text()
    if f"-- procrastinate-version: {installed}" in jobs_sql:
        assert jobs_sql.endswith(resources.files("procrastinate.sql").joinpath("schema.sql").read_text())


async def test_a_job_is_queued_with_the_change_or_not_at_all(principal_of, ticket_jobs, conn, make_actor):
    principal = await principal_of(await make_actor())
    with pytest.raises(RuntimeError):
        async with conn.transaction():
            rolled_back, _ = await tickets.create(conn, principal=principal, data=TicketCreate(title="never"))
            assert len(await ticket_jobs(rolled_back.id)) == 1  # visible inside the transaction
            raise RuntimeError("the request failed after the insert")
    assert await ticket_jobs(rolled_back.id) == []
    kept, _ = await tickets.create(conn, principal=principal, data=TicketCreate(title="kept"))
    assert await ticket_jobs(kept.id) == [
        {"task_name": "triage.process_ticket", "queue_name": "triage", "lock": f"ticket:{kept.id}", "status": "todo"}]


def test_no_app_exists_at_import_time_and_each_app_has_the_registry_tasks():
    assert not hasattr(jobs, "app")
    first, second = jobs.make_app(), jobs.make_app()
    assert first is not second
    for app in (first, second):
        assert {"triage.process_ticket", "alerts.deliver", "sla.check", "sla.sweep"} <= set(app.tasks)
        assert sorted(p.periodic_id for p in app.periodic_registry.periodic_tasks.values()) == [
            "alerts-redrive", "analytics-refresh", "email-poll", "improve-cluster", "kb-embed_resolved",
            "retention-purge", "sla-sweep", "sync-tick"]


NO_DOMAIN = (
    "import sys, api.jobs, api.jobs.worker; rooms = ('api.triage', 'api.routing', 'api.kb', 'api.sla', 'api.alerts', "
    "'api.tickets', 'api.retention'); loaded = sorted(m for m in sys.modules if m.startswith(rooms)); "
    "assert not loaded, loaded")


def test_the_queue_and_the_worker_import_no_domain():
    """The registry names the task modules; the worker's context is only the pool and the settings."""
    done = subprocess.run([sys.executable, "-c", NO_DOMAIN], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert not hasattr(jobs, "ticket_changed")
