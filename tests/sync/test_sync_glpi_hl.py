"""The sync engine with a connector on GLPI's High-Level API (``config.api: hl``): the same outcomes as with the
legacy API, every call through ``api.php``; the connector's OAuth secrets are write-only and encrypted."""

from __future__ import annotations

import uuid

from sync_support import open_ticket, outbox, remote_by_number, run_worker, staff

from api import crypto
from api.integrations.sync import bulk, engine
from api.tickets import service as tickets
from api.tickets.models import CommentCreate


def _legacy_calls(glpi) -> list[str]:
    return [r.path for r in glpi.fake.requests if not r.path.startswith("/api.php/")]


async def test_a_new_ticket_and_its_public_comment_reach_glpi_through_the_hl_api(conn, glpi, hl_connector,
                                                                                   make_actor, sync_settings):
    employee, agent = await make_actor(), await make_actor("admin")
    ticket = await open_ticket(conn, employee, "VPN drops every hour", description="since Monday", urgency=1)
    await tickets.add_comment(conn, principal=staff(agent), ref=ticket.id, data=CommentCreate(body="Please restart"))
    await tickets.add_comment(conn, principal=staff(agent), ref=ticket.id,
                              data=CommentCreate(body="user is VIP", internal=True))
    await run_worker(sync_settings)
    [remote] = remote_by_number(glpi.fake, ticket.number)
    assert (remote["name"], remote["content"], remote["urgency"], remote["type"]) == (
        "VPN drops every hour", "since Monday", 4, 1)
    followups = [f for f in glpi.fake.followups.values() if f["items_id"] == remote["id"]]
    assert [(f["content"], f["is_private"]) for f in followups] == [("Please restart", 0)]
    link = await (await conn.execute("SELECT external_id, remote_date_mod FROM sync_links WHERE ticket_id = %s",
                                     (ticket.id,))).fetchone()
    assert link["external_id"] == str(remote["id"])
    assert link["remote_date_mod"] is not None and "T" not in link["remote_date_mod"]  # GLPI's clock, legacy form
    assert {i["status"] for i in await outbox(conn, ticket.id)} == {"done", "skipped"}
    assert _legacy_calls(glpi) == [] and glpi.fake.hl.grants[0] == "password"


async def test_a_glpi_follow_up_and_status_change_come_back_through_the_poll(conn, glpi, hl_connector, make_actor,
                                                                             sync_settings):
    employee = await make_actor()
    ticket = await open_ticket(conn, employee, "Teams crashes on start")
    await run_worker(sync_settings)
    [remote] = remote_by_number(glpi.fake, ticket.number)
    glpi.fake.add_followup(remote["id"], "Please reinstall Teams")
    glpi.fake.edit_ticket(remote["id"], status=4)
    polled = await engine.poll(conn, connector_id=hl_connector.id, settings=sync_settings)
    assert (polled.error, polled.comments, polled.pulled) == (None, 1, 1)
    assert polled.cursor == glpi.fake.tickets[remote["id"]]["date_mod"]  # the newest date_mod, as legacy writes it
    after = await tickets.get_or_raise(conn, principal=staff(employee), ref=ticket.id)
    assert after.status == "pending"
    comments = await (await conn.execute("SELECT body FROM ticket_comments WHERE ticket_id = %s", (ticket.id,))
                      ).fetchall()
    assert [c["body"] for c in comments] == ["Please reinstall Teams"]
    requests = len(glpi.fake.requests)
    await run_worker(sync_settings)
    assert [r.method for r in glpi.fake.requests[requests:] if r.method in ("PATCH", "POST")
            and r.path != "/api.php/token"] == []  # not echoed back
    again = await engine.poll(conn, connector_id=hl_connector.id, settings=sync_settings)
    assert (again.error, again.comments, again.pulled) == (None, 0, 0)  # the overlap window: nothing twice
    assert _legacy_calls(glpi) == []


async def test_wrong_oauth_credentials_stop_the_item_with_glpis_error(conn, glpi, hl_connector, make_actor,
                                                                      sync_settings):
    employee = await make_actor()
    glpi.fake.hl.passwords.clear()  # the user's password was changed in GLPI
    ticket = await open_ticket(conn, employee, "Cannot print")
    await run_worker(sync_settings)
    items = await outbox(conn, ticket.id)  # the creation, and what triage changed after
    assert items and {i["status"] for i in items} == {"failed"}
    assert {i["last_error"] for i in items} == {
        "GLPI answered 400 to the password grant: invalid_grant: The user credentials were incorrect."}
    assert remote_by_number(glpi.fake, ticket.number) == []


async def test_backfill_and_reconcile_work_through_the_hl_api(conn, glpi, hl_connector, make_actor, sync_settings):
    made = glpi.fake.add_ticket(name="Made in GLPI", urgency=5, status=1)
    glpi.fake.add_followup(made["id"], "first look")
    glpi.fake.add_ticket(name="Closed long ago", status=6)
    imported = await bulk.backfill(conn, sync_settings, name=hl_connector.name)
    assert imported.found == 1 and [external for external, _ in imported.imported] == [str(made["id"])]
    row = await (await conn.execute("SELECT t.id, t.urgency FROM tickets t JOIN sync_links l ON l.ticket_id = t.id "
                                    "WHERE l.connector_id = %s", (hl_connector.id,))).fetchone()
    comments = await (await conn.execute("SELECT body FROM ticket_comments WHERE ticket_id = %s", (row["id"],))
                      ).fetchall()
    assert row["urgency"] == 1 and [c["body"] for c in comments] == ["first look"]
    glpi.fake.edit_ticket(made["id"], name="Renamed in GLPI")  # deskmate owns the title: drift
    [drift] = await bulk.reconcile(conn, sync_settings, name=hl_connector.name, apply=True)
    assert (drift.field, drift.remote) == ("title", "Renamed in GLPI")
    assert glpi.fake.tickets[made["id"]]["name"] == "Made in GLPI"
    assert await bulk.reconcile(conn, sync_settings, name=hl_connector.name) == []
    assert _legacy_calls(glpi) == []


def _hl_body(name: str, **secrets: str) -> dict:
    return {"name": name, "base_url": "https://glpi.example.com/api.php/v2/",
            "config": {"api": "hl", "client_id": "deskmate", "username": "sync-bot"}} | secrets


async def test_hl_secrets_are_required_write_only_and_encrypted(client, conn, make_actor, settings):
    admin = await make_actor("admin")
    name = f"glpihl-{uuid.uuid4().hex[:8]}"
    secret, password = "cs-" + uuid.uuid4().hex, "pw-" + uuid.uuid4().hex
    lacking = await client.post("/api/v1/sync/connectors", json=_hl_body(name, client_secret=secret),
                                headers=admin.headers)
    assert lacking.status_code == 422 and "password" in lacking.text
    created = await client.post("/api/v1/sync/connectors", json=_hl_body(name, client_secret=secret,
                                                                        password=password), headers=admin.headers)
    try:
        assert created.status_code == 201, created.text
        assert created.json()["has_client_secret"] and created.json()["has_password"]
        assert not created.json()["has_user_token"]
        to_legacy = await client.patch(f"/api/v1/sync/connectors/{name}", json={"config": {"api": "legacy"}},
                                       headers=admin.headers)
        assert to_legacy.status_code == 422 and "user_token" in to_legacy.text  # legacy needs its token
        listed = await client.get("/api/v1/sync/connectors", headers=admin.headers)
        for answer in (created, listed, to_legacy):
            assert secret not in answer.text and password not in answer.text
        row = await (await conn.execute("SELECT * FROM sync_connectors WHERE name = %s", (name,))).fetchone()
        assert secret not in str(dict(row)) and password not in str(dict(row))
        assert crypto.decrypt(settings, row["client_secret_encrypted"]) == secret
        assert crypto.decrypt(settings, row["password_encrypted"]) == password
        assert row["config"]["api"] == "hl"
    finally:
        await client.delete(f"/api/v1/sync/connectors/{name}", headers=admin.headers)
