"""The sync admin API: admins only, problem+json, secrets write-only and encrypted at rest, status and conflicts."""

from __future__ import annotations

import uuid

from sync_support import open_ticket, remote_by_number, run_worker

from api import crypto

SECRET_USER, SECRET_APP = "usr-" + uuid.uuid4().hex, "app-" + uuid.uuid4().hex


def _body(name: str, url: str = "https://glpi.example.com/apirest.php/") -> dict:
    return {"name": name, "base_url": url, "user_token": SECRET_USER, "app_token": SECRET_APP,
            "config": {"categories": {"network": 12}, "poll_interval_s": 120}}


async def test_agents_may_not_touch_connectors(client, make_actor):
    agent = await make_actor("agent")  # conflicts are theirs to see and settle (below); connectors are not
    for method, path in [("GET", "/api/v1/sync/connectors"), ("POST", "/api/v1/sync/connectors"),
                         ("POST", "/api/v1/sync/outbox/1/retry")]:
        answer = await client.request(method, path, headers=agent.headers, json=_body("nope"))
        assert answer.status_code == 403, path
        assert answer.headers["content-type"] == "application/problem+json"


async def test_secrets_are_never_returned_and_are_encrypted_in_the_database(client, conn, make_actor, settings):
    admin = await make_actor("admin")
    name = f"glpi-{uuid.uuid4().hex[:8]}"
    created = await client.post("/api/v1/sync/connectors", json=_body(name), headers=admin.headers | {
        "Idempotency-Key": name})
    replay = await client.post("/api/v1/sync/connectors", json=_body(name), headers=admin.headers | {
        "Idempotency-Key": name})
    try:
        assert created.status_code == 201 and replay.status_code == 201
        assert replay.headers["Idempotent-Replayed"] == "true" and replay.json()["id"] == created.json()["id"]
        listed = await client.get("/api/v1/sync/connectors", headers=admin.headers)
        patched = await client.patch(f"/api/v1/sync/connectors/{name}", json={"enabled": False}, headers=admin.headers)
        for answer in (created, listed, patched):
            assert SECRET_USER not in answer.text and SECRET_APP not in answer.text
        assert created.json()["has_user_token"] and created.json()["has_app_token"]
        assert created.json()["config"]["categories"] == {"network": 12}
        assert patched.json()["enabled"] is False and patched.json()["has_user_token"]
        row = await (await conn.execute("SELECT * FROM sync_connectors WHERE name = %s", (name,))).fetchone()
        assert SECRET_USER not in str(dict(row)) and SECRET_APP not in str(dict(row))
        assert crypto.decrypt(settings, row["user_token_encrypted"]) == SECRET_USER
        assert crypto.decrypt(settings, row["app_token_encrypted"]) == SECRET_APP
        duplicate = await client.post("/api/v1/sync/connectors", json=_body(name), headers=admin.headers)
        assert duplicate.status_code == 409 and duplicate.headers["content-type"] == "application/problem+json"
    finally:
        assert (await client.delete(f"/api/v1/sync/connectors/{name}", headers=admin.headers)).status_code == 204
    assert (await client.get(f"/api/v1/sync/connectors/{name}", headers=admin.headers)).status_code == 404


async def test_a_bad_config_or_url_is_refused(client, make_actor):
    admin = await make_actor("admin")
    extra = _body("glpi-bad") | {"config": {"colour": "blue"}}
    assert (await client.post("/api/v1/sync/connectors", json=extra, headers=admin.headers)).status_code == 422
    ftp = _body("glpi-bad", url="ftp://glpi.example.com/")
    refused = await client.post("/api/v1/sync/connectors", json=ftp, headers=admin.headers)
    assert refused.status_code == 422 and "http(s)" in refused.json()["detail"]


async def test_status_shows_failed_items_with_glpis_error_and_retry_requeues_them(client, conn, glpi, connector,
                                                                                  make_actor, sync_settings):
    admin, employee = await make_actor("admin"), await make_actor()
    glpi.fake.refuse_create("Forbidden")
    ticket = await open_ticket(conn, employee, "Forbidden project access")
    await run_worker(sync_settings)
    status = (await client.get(f"/api/v1/sync/connectors/{connector.name}/status", headers=admin.headers)).json()
    failed = [i for i in status["failed"] if i["ticket_id"] == ticket.id]  # each item tried to create it
    assert "created" in {i["event_kind"] for i in failed}
    assert all("ERROR_RIGHT_MISSING" in i["last_error"] for i in failed) and status["last_error"] == failed[0]["last_error"]
    glpi.fake.refused.clear()
    for item in failed:
        retried = await client.post(f"/api/v1/sync/outbox/{item['id']}/retry", headers=admin.headers)
        assert retried.status_code == 202
    await run_worker(sync_settings)
    after = (await client.get(f"/api/v1/sync/connectors/{connector.name}/status", headers=admin.headers)).json()
    assert after["failed"] == [] and after["queue_depth"] == 0 and after["lag_s"] is None
    assert len(remote_by_number(glpi.fake, ticket.number)) == 1
    again = await client.post(f"/api/v1/sync/outbox/{failed[0]['id']}/retry", headers=admin.headers)
    assert again.status_code == 404


async def test_conflicts_are_listed_per_ticket(client, conn, connector, make_actor):
    admin, employee = await make_actor("admin"), await make_actor()
    ticket = await open_ticket(conn, employee, "Conflicted")
    await conn.execute("INSERT INTO sync_conflicts (connector_id, ticket_id, field, local_value, remote_value) "
                       "VALUES (%s, %s, 'impact', '2', '5')", (connector.id, ticket.id))
    listed = (await client.get("/api/v1/sync/conflicts", params={"ticket": ticket.number}, headers=admin.headers)).json()
    assert [(c["field"], c["local_value"], c["remote_value"], c["connector"]) for c in listed] == [
        ("impact", 2, 5, connector.name)]


async def test_agents_see_and_resolve_conflicts_and_employees_cannot(client, conn, connector, make_actor):
    agent, employee = await make_actor("agent"), await make_actor()
    ticket = await open_ticket(conn, employee, "Conflicted again")
    row = await (await conn.execute(
        "INSERT INTO sync_conflicts (connector_id, ticket_id, field, local_value, remote_value) "
        "VALUES (%s, %s, 'impact', '2', '5') RETURNING id", (connector.id, ticket.id))).fetchone()
    url = f"/api/v1/sync/conflicts/{row['id']}/resolve"
    assert (await client.get("/api/v1/sync/conflicts", headers=employee.headers)).status_code == 403
    assert (await client.post(url, json={"keep": "theirs"}, headers=employee.headers)).status_code == 403
    assert (await client.post(url, json={"keep": "mine"}, headers=agent.headers)).status_code == 422
    r = await client.post(url, json={"keep": "theirs"}, headers=agent.headers)
    assert r.status_code == 200 and (r.json()["resolution"], r.json()["resolved_by"]) == ("theirs", agent.user.email)
    assert (await client.post(url, json={"keep": "ours"}, headers=agent.headers)).status_code == 409
    open_ones = (await client.get("/api/v1/sync/conflicts", params={"ticket": ticket.number, "open": "true"},
                                  headers=agent.headers)).json()
    assert open_ones == []
    assert (await client.post("/api/v1/sync/conflicts/999999999/resolve", json={"keep": "theirs"},
                              headers=agent.headers)).status_code == 404


async def test_the_engines_connector_does_not_show_its_secrets_in_logs_or_tracebacks(connector, glpi):
    assert glpi.fake.user_token not in repr(connector) and str(glpi.fake.app_token) not in repr(connector)
