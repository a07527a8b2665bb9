"""The GLPI legacy REST client against the fake: login, session expiry, paging, error arrays, no body on GET."""

from __future__ import annotations

import httpx
import pytest
from fakes.glpi_server import FakeGlpiServer

from api.errors import GlpiError
from api.integrations.glpi.client import LegacyClient
from api.integrations.outbound import OutboundGuard, OutboundSettings

LOOPBACK = OutboundGuard(OutboundSettings(allow_private=True))


def client(glpi: FakeGlpiServer, *, user_token: str | None = None, app_token: str | None = "default") -> LegacyClient:
    return LegacyClient(glpi.url, user_token=user_token or glpi.fake.user_token,
                        app_token=glpi.fake.app_token if app_token == "default" else app_token, guard=LOOPBACK)


async def test_a_wrong_user_token_is_a_permanent_error_with_glpis_code(glpi):
    async with client(glpi, user_token="not-a-token") as api:
        with pytest.raises(GlpiError) as caught:
            await api.get_ticket(1)
    assert caught.value.permanent and caught.value.http_status == 401
    assert caught.value.code == "ERROR_GLPI_LOGIN_USER_TOKEN"
    assert "user_token seems invalid" in caught.value.detail


async def test_a_missing_app_token_is_refused(glpi):
    async with client(glpi, app_token=None) as api:
        with pytest.raises(GlpiError) as caught:
            await api.get_ticket(1)
    assert (caught.value.http_status, caught.value.code) == (400, "ERROR_APP_TOKEN_PARAMETERS_MISSING")


async def test_the_outbound_guard_refuses_loopback_unless_allowed(glpi):
    async with LegacyClient(glpi.url, user_token="x", app_token=None,
                            guard=OutboundGuard(OutboundSettings(allow_private=False))) as api:
        with pytest.raises(GlpiError) as caught:
            await api.get_ticket(1)
    assert caught.value.permanent and "loopback" in caught.value.detail
    assert glpi.fake.requests == []


async def test_an_expired_session_logs_in_once_more_and_the_call_succeeds(glpi):
    ticket = glpi.fake.add_ticket(name="Printer jam")
    async with client(glpi) as api:
        assert (await api.get_ticket(ticket["id"]))["name"] == "Printer jam"
        glpi.fake.expire_sessions()
        assert (await api.get_ticket(ticket["id"]))["name"] == "Printer jam"
    assert glpi.fake.logins == 2
    assert [r.path.rsplit("/", 1)[-1] for r in glpi.fake.requests].count("killSession") == 1


async def test_a_session_that_cannot_be_renewed_fails_with_the_login_error(glpi):
    ticket = glpi.fake.add_ticket(name="Printer jam")
    async with client(glpi) as api:
        await api.get_ticket(ticket["id"])
        glpi.fake.expire_sessions()
        glpi.fake.users.clear()  # the token was revoked meanwhile
        with pytest.raises(GlpiError) as caught:
            await api.get_ticket(ticket["id"])
    assert caught.value.code == "ERROR_GLPI_LOGIN_USER_TOKEN" and caught.value.permanent


async def test_lists_are_read_across_206_pages_newest_first(glpi):
    made = [glpi.fake.add_ticket(name=f"ticket {i}") for i in range(7)]
    async with client(glpi) as api:
        rows = [row async for row in api.tickets_by_date_mod(page_size=3)]
    assert [r["id"] for r in rows] == [t["id"] for t in reversed(made)]
    ranges = [r.path for r in glpi.fake.requests if r.method == "GET" and r.path.endswith("/Ticket/")]
    assert len(ranges) == 3  # 0-2 (206), 3-5 (206), 6-8 (200)


async def test_a_list_that_ends_exactly_on_a_page_boundary_stops(glpi):
    for i in range(6):
        glpi.fake.add_ticket(name=f"ticket {i}")
    async with client(glpi) as api:
        rows = [row async for row in api.tickets_by_date_mod(page_size=3)]
    assert len(rows) == 6


async def test_an_error_array_becomes_a_clear_error(glpi):
    async with client(glpi) as api:
        with pytest.raises(GlpiError) as caught:
            await api.get_ticket(999)
    assert caught.value.code == "ERROR_ITEM_NOT_FOUND" and caught.value.http_status == 404
    assert caught.value.detail == "GLPI answered 404 to GET Ticket/999: ERROR_ITEM_NOT_FOUND: Item not found"
    assert caught.value.permanent


async def test_5xx_and_no_answer_are_transient(glpi):
    async with client(glpi) as api:
        glpi.fake.failing = 500
        with pytest.raises(GlpiError) as server_error:
            await api.get_ticket(1)
        glpi.fake.failing = None
        glpi.stop()
        with pytest.raises(GlpiError) as refused:
            await api.get_ticket(1)
    assert not server_error.value.permanent and server_error.value.http_status == 500
    assert not refused.value.permanent and "Cannot reach GLPI" in refused.value.detail


async def test_get_requests_never_carry_a_body_and_the_fake_refuses_one_that_does(glpi):
    ticket = glpi.fake.add_ticket(name="VPN down", externalid="INC-1")
    async with client(glpi) as api:
        assert (await api.find_ticket(externalid="INC-1"))["id"] == ticket["id"]
        await api.add_followup(ticket["id"], content="looking", private=False)
        assert len(await api.followups(ticket["id"])) == 1
    gets = [r for r in glpi.fake.requests if r.method == "GET"]
    assert gets and all(r.body == b"" for r in gets)
    async with httpx.AsyncClient() as raw:
        answer = await raw.request("GET", glpi.url + "initSession", content=b"{}",
                                   headers={"App-Token": glpi.fake.app_token or "",
                                            "Authorization": f"user_token {glpi.fake.user_token}"})
    assert answer.status_code == 400 and answer.json()[0] == "ERROR_JSON_PAYLOAD_FORBIDDEN"


async def test_find_ticket_matches_the_external_id_exactly(glpi):
    glpi.fake.add_ticket(name="a", externalid="INC-10")
    async with client(glpi) as api:
        assert await api.find_ticket(externalid="INC-1") is None
