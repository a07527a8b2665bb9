"""``deskmate sync`` on a SolMan connector: status shows SAP's error for a failed item; backfill says it is GLPI-only."""

from __future__ import annotations

import asyncio

from fakes.triage import drain
from typer.testing import CliRunner

from api import cli
from api.auth.models import Principal
from api.settings import get_settings
from api.tickets import service as tickets
from api.tickets.models import TicketCreate


async def test_status_shows_a_failed_item_with_saps_text_and_backfill_is_refused(
        conn, settings, solman_connector, solman_settings, make_actor, monkeypatch):
    user = (await make_actor()).user
    await tickets.create(conn, principal=Principal(id=user.id, email=user.email, name=user.name, role=user.role),
                         data=TicketCreate(title="Month-end closing blocked", urgency=1, impact=1))  # P1 → "9"
    await drain(solman_settings, queues=["triage", "sync"])
    monkeypatch.setenv("DATABASE_URL", settings.database_url.get_secret_value())
    monkeypatch.setenv("DESKMATE_DATA_DIR", str(settings.data_dir))
    get_settings.cache_clear()
    try:
        status = await asyncio.to_thread(CliRunner().invoke, cli.app, ["sync", "status", "--connector",
                                                                       solman_connector.name])
        backfill = await asyncio.to_thread(CliRunner().invoke, cli.app, ["sync", "backfill", "--connector",
                                                                         solman_connector.name])
    finally:
        get_settings.cache_clear()
    assert status.exit_code == 0, status.output
    assert solman_connector.name in status.output and "Priority 9 is not defined" in status.output
    assert backfill.exit_code == 1 and "GLPI connectors only" in backfill.output
