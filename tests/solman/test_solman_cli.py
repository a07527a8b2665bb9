"""``deskmate sync`` on a SolMan connector: status shows SAP's error for a failed item, reconcile finds and fixes
drift, backfill says it is GLPI-only."""

from __future__ import annotations

import asyncio

from fakes.triage import drain
from solman_support import incidents_of
from typer.testing import CliRunner

from api import cli
from api.auth.models import Principal
from api.settings import get_settings
from api.tickets import service as tickets
from api.tickets.models import TicketCreate


async def test_status_reconcile_and_backfill_on_a_solman_connector(conn, gateway, settings, solman_connector,
                                                                  solman_settings, make_actor, monkeypatch):
    user = (await make_actor()).user
    principal = Principal(id=user.id, email=user.email, name=user.name, role=user.role)
    await tickets.create(conn, principal=principal,
                         data=TicketCreate(title="Month-end closing blocked", urgency=1, impact=1))  # P1 → "9"
    synced, _ = await tickets.create(conn, principal=principal, data=TicketCreate(title="Spool requests stuck"))
    await drain(solman_settings, queues=["triage", "sync"])
    [incident] = incidents_of(gateway.fake, synced.number)
    gateway.fake.change(incident["ObjectId"], Priority="1")  # drift: someone raised it in SolMan
    monkeypatch.setenv("DATABASE_URL", settings.database_url.get_secret_value())
    monkeypatch.setenv("DESKMATE_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("DESKMATE_OUTBOUND_ALLOW_PRIVATE", "true")  # the fake listens on loopback
    get_settings.cache_clear()

    async def deskmate(*args: str):  # type: ignore[no-untyped-def]
        return await asyncio.to_thread(CliRunner().invoke, cli.app, ["sync", *args, "--connector",
                                                                     solman_connector.name])

    try:
        status, backfill = await deskmate("status"), await deskmate("backfill")
        drift, fixed, none = await deskmate("reconcile"), await deskmate("reconcile", "--apply"), await deskmate(
            "reconcile")
    finally:
        get_settings.cache_clear()
    assert status.exit_code == 0, status.output
    assert solman_connector.name in status.output and "Priority 9 is not defined" in status.output
    assert backfill.exit_code == 1 and "GLPI connectors only" in backfill.output
    assert drift.exit_code == 1 and synced.number in drift.output and "1 fields differ" in drift.output
    assert fixed.exit_code == 0 and gateway.fake.incidents[incident["ObjectId"]]["Priority"] == "4"
    assert none.exit_code == 0 and "0 fields differ" in none.output
