"""``deskmate sync list|add|set|remove|status|backfill|reconcile`` against the fake GLPI."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from sync_support import open_ticket, run_worker
from typer.testing import CliRunner

from api import cli
from api.settings import Settings, get_settings


@pytest.fixture
def deskmate(settings: Settings, monkeypatch):
    """Runs a ``deskmate`` command on the test database (loopback allowed: the fake GLPI)."""
    monkeypatch.setenv("DATABASE_URL", settings.database_url.get_secret_value())
    monkeypatch.setenv("DESKMATE_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("DESKMATE_OUTBOUND_ALLOW_PRIVATE", "true")
    get_settings.cache_clear()

    async def run(*args: str):
        return await asyncio.to_thread(CliRunner().invoke, cli.app, list(args))  # it runs its own loop

    yield run
    get_settings.cache_clear()


async def test_connectors_are_added_changed_and_removed_with_their_secrets_never_shown(deskmate, conn, tmp_path):
    name, secret = f"cli-{uuid.uuid4().hex[:8]}", "tok-" + uuid.uuid4().hex
    body = tmp_path / "glpi.json"
    body.write_text(json.dumps({"name": name, "base_url": "https://glpi.example.com/apirest.php/",
                                "user_token": secret, "config": {"poll_interval_s": 300}}))
    added = await deskmate("sync", "add", str(body))
    assert added.exit_code == 0, added.output
    assert f"{name}: glpi at https://glpi.example.com/apirest.php/, enabled, secrets set: user_token" in added.output
    listed = await deskmate("sync", "list")
    assert name in listed.output and secret not in listed.output + added.output
    row = await (await conn.execute("SELECT user_token_encrypted FROM sync_connectors WHERE name = %s", (name,))).fetchone()
    assert row["user_token_encrypted"] and secret not in row["user_token_encrypted"]

    patch = tmp_path / "patch.json"
    patch.write_text(json.dumps({"enabled": False}))
    changed = await deskmate("sync", "set", name, str(patch))
    assert changed.exit_code == 0 and f"{name}: glpi" in changed.output and "disabled" in changed.output
    patch.write_text(json.dumps({"enabled": False, "colour": "red"}))
    refused = await deskmate("sync", "set", name, str(patch))
    assert refused.exit_code == 1 and "colour" in refused.output
    again = await deskmate("sync", "add", str(body))
    assert again.exit_code == 1 and "exists already" in again.output
    removed = await deskmate("sync", "remove", name)
    assert removed.exit_code == 0 and name not in (await deskmate("sync", "list")).output


async def test_status_lists_the_connector_with_its_queue(deskmate, connector):
    result = await deskmate("sync", "status", "--connector", connector.name)
    assert result.exit_code == 0, result.output
    assert connector.name in result.output and "never" in result.output


async def test_backfill_imports_open_unlinked_glpi_tickets_once(deskmate, conn, glpi, connector):
    open_one = glpi.fake.add_ticket(name="Imported from GLPI", urgency=5, status=4)
    glpi.fake.add_followup(open_one["id"], "first look")
    glpi.fake.add_ticket(name="Closed long ago", status=6)
    dry = await deskmate("sync", "backfill", "--connector", connector.name, "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "1 open unlinked tickets, would import 1" in dry.output
    assert await (await conn.execute("SELECT 1 FROM tickets WHERE title = 'Imported from GLPI'")).fetchone() is None
    real = await deskmate("sync", "backfill", "--connector", connector.name)
    assert real.exit_code == 0, real.output
    row = await (await conn.execute(
        "SELECT t.id, t.urgency, t.source_type, l.external_id FROM tickets t JOIN sync_links l ON l.ticket_id = t.id "
        "WHERE t.title = 'Imported from GLPI' AND l.connector_id = %s", (connector.id,))).fetchone()
    assert (row["urgency"], row["source_type"], row["external_id"]) == (1, "GLPI", str(open_one["id"]))
    comments = await (await conn.execute("SELECT body FROM ticket_comments WHERE ticket_id = %s", (row["id"],))).fetchall()
    assert [c["body"] for c in comments] == ["first look"]
    again = await deskmate("sync", "backfill", "--connector", connector.name)
    assert "0 open unlinked tickets" in again.output
    status = await (await conn.execute("SELECT status FROM tickets WHERE id = %s", (row["id"],))).fetchone()
    assert status["status"] == "pending"  # GLPI's status, through the ticket service
    clean = await deskmate("sync", "reconcile", "--connector", connector.name)
    assert clean.exit_code == 0 and "0 fields differ" in clean.output, clean.output


async def test_reconcile_reports_drift_and_apply_writes_ours(deskmate, conn, glpi, connector, make_actor,
                                                             sync_settings):
    ticket = await open_ticket(conn, await make_actor(), "Drifting ticket")
    await run_worker(sync_settings)
    [remote] = [t for t in glpi.fake.tickets.values() if t["externalid"] == ticket.number]
    glpi.fake.tickets[remote["id"]]["name"] = "Edited behind our back"  # no date_mod: the poll cannot see it
    report = await deskmate("sync", "reconcile", "--connector", connector.name)
    assert report.exit_code == 1 and "Edited behind our back" in report.output and "1 fields differ" in report.output
    fixed = await deskmate("sync", "reconcile", "--connector", connector.name, "--apply")
    assert fixed.exit_code == 0, fixed.output
    assert glpi.fake.tickets[remote["id"]]["name"] == "Drifting ticket"
    clean = await deskmate("sync", "reconcile", "--connector", connector.name)
    assert clean.exit_code == 0 and "0 fields differ" in clean.output
