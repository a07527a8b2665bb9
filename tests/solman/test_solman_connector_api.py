"""SolMan connectors through the admin API (secrets write-only and encrypted, config checked against the kind), and
an OAuth2 connector syncing through the engine."""

from __future__ import annotations

import uuid

from fakes.solman_server import TOKEN_PATH
from fakes.triage import drain
from pydantic import SecretStr
from solman_support import incidents_of

from api import crypto
from api.auth.models import Principal
from api.integrations.solman.mapping import SolmanSyncConfig
from api.integrations.sync import connectors
from api.integrations.sync.models import SolmanConnectorIn
from api.tickets import service as tickets
from api.tickets.models import TicketCreate

PASSWORD = "pw-" + uuid.uuid4().hex
URL = "https://solman.example.com:44300"


def _body(name: str, **changes) -> dict:  # type: ignore[no-untyped-def]
    return {"name": name, "kind": "solman", "base_url": URL, "password": PASSWORD,
            "config": {"user": "DESKMATE_RFC", "sap_client": "100", "process_type": "ZMIN",
                       "status_in": {"E0001": "new", "Z0009": "closed"},
                       "categories": {"sap-fi": {"category_id": "FI", "aspect_id": "ITSM", "catalog_type": "D"}}},
            **changes}


async def test_a_solman_connector_keeps_its_password_encrypted_and_never_shows_it(client, conn, make_actor, settings):
    admin = await make_actor("admin")
    name = f"solman-{uuid.uuid4().hex[:8]}"
    created = await client.post("/api/v1/sync/connectors", json=_body(name), headers=admin.headers)
    try:
        assert created.status_code == 201, created.text
        body = created.json()
        assert (body["kind"], body["has_password"], body["has_client_secret"], body["has_user_token"]) == (
            "solman", True, False, False)
        assert body["config"]["process_type"] == "ZMIN" and body["config"]["status_in"]["Z0009"] == "closed"
        assert "base_url" not in body["config"] and body["base_url"] == URL
        patched = await client.patch(f"/api/v1/sync/connectors/{name}", headers=admin.headers, json={
            "config": _body(name)["config"] | {"reply_text_type": "ZR01"}})
        assert patched.status_code == 200 and patched.json()["config"]["reply_text_type"] == "ZR01"
        listed = await client.get("/api/v1/sync/connectors", headers=admin.headers)
        for answer in (created, patched, listed):
            assert PASSWORD not in answer.text
        row = await (await conn.execute("SELECT * FROM sync_connectors WHERE name = %s", (name,))).fetchone()
        assert PASSWORD not in str(dict(row))
        assert crypto.decrypt(settings, row["password_encrypted"]) == PASSWORD
        runtime = await connectors.runtime(conn, settings, name=name)
        assert runtime.password == PASSWORD and PASSWORD not in repr(runtime)
        assert runtime.config.client_config(URL).sap_client == "100"
    finally:
        assert (await client.delete(f"/api/v1/sync/connectors/{name}", headers=admin.headers)).status_code == 204


async def test_a_solman_connector_without_one_way_to_log_on_or_with_a_bad_config_is_refused(client, make_actor):
    admin = await make_actor("admin")
    no_password = _body("solman-bad") | {"password": None}
    both = _body("solman-bad", client_secret="s3cret") | {
        "config": _body("x")["config"] | {"token_url": URL + "/token", "client_id": "deskmate"}}
    glpi_field = _body("solman-bad") | {"config": _body("x")["config"] | {"entity_id": 3}}
    bad_category = _body("solman-bad") | {"config": {"user": "U", "categories": {"fi": {"category_id": "FI"}}}}
    unknown_kind = _body("solman-bad", kind="servicenow")
    for body in (no_password, both, glpi_field, bad_category, unknown_kind):
        refused = await client.post("/api/v1/sync/connectors", json=body, headers=admin.headers)
        assert refused.status_code == 422, body
        assert refused.headers["content-type"] == "application/problem+json"


async def test_a_patch_is_checked_against_the_connectors_kind(client, make_actor):
    admin = await make_actor("admin")
    name = f"solman-{uuid.uuid4().hex[:8]}"
    assert (await client.post("/api/v1/sync/connectors", json=_body(name), headers=admin.headers)).status_code == 201
    try:
        for patch in ({"user_token": "glpi-token"}, {"config": {"entity_id": 3}},
                      {"config": {"status_out": {"new": 1}, "sap_client": "1"}}):
            refused = await client.patch(f"/api/v1/sync/connectors/{name}", json=patch, headers=admin.headers)
            assert refused.status_code == 422, patch
            assert refused.headers["content-type"] == "application/problem+json"
    finally:
        await client.delete(f"/api/v1/sync/connectors/{name}", headers=admin.headers)


async def test_an_oauth2_connector_syncs_with_a_client_credentials_token(conn, gateway, solman_settings, make_actor):
    await drain(solman_settings, queues=["triage"])
    admin, employee = await make_actor("admin"), await make_actor()
    name = f"solman-{uuid.uuid4().hex[:8]}"
    fake = gateway.fake
    config = SolmanSyncConfig(token_url=gateway.url + TOKEN_PATH, client_id=fake.client_id, sap_client="100")
    await connectors.create(conn, settings=solman_settings, actor_id=admin.user.id, data=SolmanConnectorIn(
        name=name, kind="solman", base_url=gateway.url, config=config, client_secret=SecretStr(fake.client_secret)))
    try:
        user = employee.user
        ticket, _ = await tickets.create(conn, principal=Principal(id=user.id, email=user.email, name=user.name,
                                                                   role=user.role),
                                         data=TicketCreate(title="SolMan via OAuth"))
        await drain(solman_settings, queues=["triage", "sync"])
        assert len(incidents_of(fake, ticket.number)) == 1
        assert ("POST", TOKEN_PATH) in fake.requests
    finally:
        await conn.execute("DELETE FROM sync_connectors WHERE name = %s", (name,))
