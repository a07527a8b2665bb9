"""``deskmate analytics refresh`` and the worker's ``analytics.refresh`` (api/analytics/cli.py, tasks.py)."""

from __future__ import annotations

import asyncio

from analytics_support import seed_tickets
from typer.testing import CliRunner

from api import cli, jobs
from api.analytics import rollups
from api.auth.models import Role
from api.jobs import registry
from api.settings import get_settings


async def test_deskmate_analytics_refresh_rolls_up_the_new_tickets(conn, settings, make_actor, monkeypatch):
    employee, agent = await make_actor(Role.employee), await make_actor(Role.agent)
    seeded = await seed_tickets(conn, requester_id=employee.user.id, agent_id=agent.user.id)
    monkeypatch.setenv("DATABASE_URL", settings.database_url.get_secret_value())
    monkeypatch.setenv("DESKMATE_DATA_DIR", str(settings.data_dir))
    get_settings.cache_clear()
    try:
        result = await asyncio.to_thread(CliRunner().invoke, cli.app, ["analytics", "refresh"])  # its own loop
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "tickets rolled up" in result.output
    st = await rollups.state(conn)
    assert st is not None and st.ticket_watermark >= max(seeded.tickets.values())
    assert not set(seeded.tickets.values()) & set(await rollups.touched(conn, st))


def test_the_worker_refreshes_the_rollups_every_15_minutes():
    assert "api.analytics.tasks" in registry.TASK_MODULES and "analytics" in jobs.QUEUES
    periodic = [p for p in jobs.make_app().periodic_registry.periodic_tasks.values()
                if p.task.name == "analytics.refresh"]
    assert periodic and periodic[0].cron == "*/15 * * * *" and periodic[0].task.queue == "analytics"
