"""``deskmate sync`` on a SolMan connector: status shows SAP's error for a failed item, reconcile finds and fixes
drift, backfill imports the open incidents made in SolMan once."""

from __future__ import annotations

import asyncio
import uuid

from fakes.triage import drain
from solman_support import agent_replies, incidents_of, made_in_solman
from typer.testing import CliRunner

from api import cli
from api.auth.models import Principal, Role
from api.routing import rules as routing
from api.routing.models import RuleIn
from api.settings import get_settings
from api.tickets import service as tickets
from api.tickets.models import TicketCreate


async def test_status_reconcile_and_backfill_on_a_solman_connector(conn, gateway, settings, solman_connector,
                                                                  solman_settings, make_actor, make_team, monkeypatch):
    user = (await make_actor()).user
    team, word = await make_team(), f"prd{uuid.uuid4().hex[:8]}"  # triage's team has a free agent, whatever the
    await make_actor(Role.agent, teams=(team,))                     # other tests left open in the shared database
    await routing.create_rule(conn, data=RuleIn(name=f"to {team}", position=1, team=team,
                                                conditions={"keywords": [word]}))
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
        status = await deskmate("status")
        drift, fixed, none = await deskmate("reconcile"), await deskmate("reconcile", "--apply"), await deskmate(
            "reconcile")
        theirs = made_in_solman(gateway.fake, f"Cannot log on to {word}", LongText="since 9:00", Priority="2")
        agent_replies(gateway.fake, theirs["ObjectId"], "Checking SU53", StatusCode="E0002")
        made_in_solman(gateway.fake, "Old and done", StatusCode="E0008")
        backfill, again = await deskmate("backfill"), await deskmate("backfill")
    finally:
        get_settings.cache_clear()
    assert status.exit_code == 0, status.output
    assert solman_connector.name in status.output and "Priority 9 is not defined" in status.output
    assert drift.exit_code == 1 and synced.number in drift.output and "1 fields differ" in drift.output, drift.output
    assert fixed.exit_code == 0 and gateway.fake.incidents[incident["ObjectId"]]["Priority"] == "4"
    assert none.exit_code == 0 and "0 fields differ" in none.output
    assert backfill.exit_code == 0 and "1 open unlinked tickets, imported 1" in backfill.output, backfill.output
    assert again.exit_code == 0 and "0 open unlinked tickets" in again.output
    row = await (await conn.execute(
        "SELECT t.id, t.title, t.description, t.urgency, t.status, t.source_type FROM tickets t "
        "JOIN sync_links l ON l.ticket_id = t.id WHERE l.connector_id = %s AND l.external_id = %s",
        (solman_connector.id, theirs["ObjectId"]))).fetchone()
    assert (row["title"], row["description"], row["urgency"], row["status"], row["source_type"]) == (
        f"Cannot log on to {word}", "since 9:00", 1, "new", "SOLMAN")  # "in process" needs an assignee here
    comments = await (await conn.execute("SELECT body FROM ticket_comments WHERE ticket_id = %s", (row["id"],))).fetchall()
    assert [c["body"] for c in comments] == ["Checking SU53"]
    await drain(solman_settings, queues=["triage", "sync"])  # triage assigns it; the push brings SolMan's status in
    after = await (await conn.execute("SELECT status FROM tickets WHERE id = %s", (row["id"],))).fetchone()
    why = await (await conn.execute("SELECT kind, after, meta FROM ticket_events WHERE ticket_id = %s ORDER BY id",
                                    (row["id"],))).fetchall()
    assert after["status"] == "in_progress", why  # once 'new' in CI at 23:54 UTC: the events say why
    assert gateway.fake.incidents[theirs["ObjectId"]]["StatusCode"] == "E0002"  # not put back to "new"
    assert len(gateway.fake.incidents) == 3  # ours, theirs, the closed one: nothing created for the import
