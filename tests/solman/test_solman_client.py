"""The SolMan OData client against the fake Gateway (tests/fakes/solman_server.py): auth, CSRF with its expiry,
sap-client, paging, SAP's error envelope, and what is permanent."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fakes.solman_server import FakeSolman, FakeSolmanServer

from api.errors import SolmanError
from api.integrations.outbound import OutboundGuard, OutboundSettings
from api.integrations.solman.client import SolmanClient, SolmanConfig, SolmanCredentials, parse_date

GUARD = OutboundGuard(OutboundSettings(allow_private=True))  # the fake listens on loopback


@pytest.fixture
def solman() -> Iterator[FakeSolmanServer]:
    with FakeSolmanServer(FakeSolman(page_size=3)) as server:
        yield server


def client(server: FakeSolmanServer, **config) -> SolmanClient:  # type: ignore[no-untyped-def]
    fake = server.fake
    return SolmanClient(SolmanConfig(**{"base_url": server.url, "sap_client": "100", **config}),
                        SolmanCredentials(user=fake.user, password=fake.password), guard=GUARD)


async def test_an_incident_is_created_with_a_csrf_token_and_read_back(solman: FakeSolmanServer):
    async with client(solman) as c:
        created = await c.create_incident({"Description": "SAP GUI dumps in VA01", "LongText": "ST22 shows …",
                                           "Priority": "2"})
        again = await c.incident(created["ObjectId"])
        await c.add_text(created["ObjectId"], "Restarted the work process.")
        texts = await c.texts(created["ObjectId"])

    assert (again["Description"], again["ProcessType"], again["StatusCode"]) == ("SAP GUI dumps in VA01", "SMIN",
                                                                                  "E0001")
    assert parse_date(again["ChangedAt"]) is not None
    assert [(t["TextType"], t["Text"]) for t in texts] == [("SU99", "Restarted the work process.")]
    assert solman.fake.csrf_fetches == 1  # one token for both changes


async def test_an_expired_csrf_session_is_fetched_again_once(solman: FakeSolmanServer):
    async with client(solman) as c:
        created = await c.create_incident({"Description": "first"})
        solman.fake.expire_sessions()
        await c.update_incident(created["ObjectId"], {"Priority": "1"})

    assert solman.fake.incidents[created["ObjectId"]]["Priority"] == "1"
    assert solman.fake.csrf_fetches == 2
    assert [m for m, p in solman.fake.requests if m == "MERGE"] == ["MERGE", "MERGE"]  # refused once, then done


async def test_wrong_credentials_and_a_wrong_client_are_permanent(solman: FakeSolmanServer):
    wrong = SolmanClient(SolmanConfig(base_url=solman.url), SolmanCredentials(user="x", password="nope"),
                         guard=GUARD)
    with pytest.raises(SolmanError) as refused:
        await wrong.incident("8000000101")
    assert refused.value.permanent and refused.value.extra["http_status"] == 401
    with pytest.raises(SolmanError, match="client does not exist"):
        await client(solman, sap_client="200").incident("8000000101")


async def test_a_business_error_carries_saps_code_and_text(solman: FakeSolmanServer):
    async with client(solman) as c:
        with pytest.raises(SolmanError) as bad:
            await c.create_incident({"Description": "x", "CategoryId": "CAT1"})

    assert bad.value.permanent and bad.value.extra["sap_code"] == "CRM_CATEGORY/004"
    assert "CategoryAspectId and CategoryCatalogType are required" in bad.value.detail


async def test_a_backend_outage_is_retryable(solman: FakeSolmanServer):
    solman.fake.fail_next(503)
    async with client(solman) as c:
        with pytest.raises(SolmanError) as down:
            await c.incident("8000000101")
    assert not down.value.permanent and down.value.extra["http_status"] == 503


async def test_changes_are_read_across_the_servers_pages(solman: FakeSolmanServer):
    async with client(solman, page_size=100) as c:  # the server pages at 3
        before = datetime.now(UTC) - timedelta(seconds=2)
        for n in range(7):
            await c.create_incident({"Description": f"incident {n}"})
        changed = [i["Description"] async for i in c.changed_since(before)]

    assert changed == [f"incident {n}" for n in range(7)]
    gets = [p for m, p in solman.fake.requests if m == "GET" and p.endswith("IncidentSet")]
    assert len(gets) == 3  # 3 + 3 + 1


async def test_oauth_client_credentials_are_used_when_configured(solman: FakeSolmanServer):
    fake = solman.fake
    creds = SolmanCredentials(token_url=f"{solman.url}/sap/bc/sec/oauth2/token", client_id=fake.client_id,
                              client_secret=fake.client_secret)
    async with SolmanClient(SolmanConfig(base_url=solman.url), creds, guard=GUARD) as c:
        created = await c.create_incident({"Description": "with a token"})
    assert created["Description"] == "with a token"
    bad = SolmanCredentials(token_url=creds.token_url, client_id=fake.client_id, client_secret="wrong")
    with pytest.raises(SolmanError, match="token endpoint answered 401"):
        await SolmanClient(SolmanConfig(base_url=solman.url), bad, guard=GUARD).incident("1")


async def test_private_addresses_are_refused_unless_allowed(solman: FakeSolmanServer):
    fake = solman.fake
    closed = SolmanClient(SolmanConfig(base_url=solman.url), SolmanCredentials(user=fake.user, password=fake.password),
                          guard=OutboundGuard(OutboundSettings(allow_private=False)))
    with pytest.raises(SolmanError, match="private or loopback") as refused:
        await closed.incident("1")
    assert refused.value.permanent and fake.requests == []


def test_credentials_never_show_their_secrets():
    creds = SolmanCredentials(user="RFC", password="s3cret-pw", client_secret="s3cret-cs")
    assert "s3cret" not in repr(creds) and "s3cret" not in str(creds.model_dump())
