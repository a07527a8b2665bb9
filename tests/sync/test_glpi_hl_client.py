"""The GLPI High-Level API client against the fake: OAuth2 login, refresh and re-login, paging, the legacy shapes
the connector reads, HL error objects as GlpiError."""

from __future__ import annotations

from urllib.parse import parse_qs

import pytest
from fakes.glpi_server import FakeGlpiServer

from api.errors import GlpiError
from api.integrations.glpi.hl_client import HlClient, hl_urls
from api.integrations.outbound import OutboundGuard, OutboundSettings

LOOPBACK = OutboundGuard(OutboundSettings(allow_private=True))


def client(glpi: FakeGlpiServer, **given: str) -> HlClient:
    hl = glpi.fake.hl
    secrets = {"client_id": hl.client_id, "client_secret": hl.clients[hl.client_id], "username": hl.username,
               "password": hl.passwords[hl.username]} | given
    return HlClient(glpi.hl_url, guard=LOOPBACK, **secrets)


def hl_calls(glpi: FakeGlpiServer) -> list[str]:
    return [f"{r.method} {r.path.removeprefix('/api.php')}" for r in glpi.fake.requests]


def test_the_token_url_is_found_from_either_form_of_the_api_url():
    assert hl_urls("https://glpi.example.com/api.php/v2/") == ("https://glpi.example.com/api.php/v2",
                                                              "https://glpi.example.com/api.php/token")
    assert hl_urls("https://glpi.example.com/glpi/api.php") == ("https://glpi.example.com/glpi/api.php/v2",
                                                               "https://glpi.example.com/glpi/api.php/token")
    assert hl_urls("https://h/api.php/v2.1")[1] == "https://h/api.php/token"


async def test_login_is_a_form_encoded_password_grant_and_calls_carry_the_bearer_token(glpi):
    ticket = glpi.fake.add_ticket(name="Printer jam", status=2, itilcategories_id=7, externalid="TCK-1")
    async with client(glpi) as api:
        got = await api.get_ticket(ticket["id"])
    login = glpi.fake.requests[0]
    form = {k: v[0] for k, v in parse_qs(login.body.decode()).items()}
    assert (login.method, login.path) == ("POST", "/api.php/token")
    assert form == {"grant_type": "password", "client_id": glpi.fake.hl.client_id, "scope": "api",
                    "client_secret": glpi.fake.hl.clients[glpi.fake.hl.client_id],
                    "username": glpi.fake.hl.username, "password": glpi.fake.hl.passwords[glpi.fake.hl.username]}
    assert hl_calls(glpi)[1:] == [f"GET /v2/Assistance/Ticket/{ticket['id']}"]
    # the legacy shapes: the status int, the category id, externalid, GLPI's wall-clock date_mod
    assert (got["status"], got["itilcategories_id"], got["externalid"]) == (2, 7, "TCK-1")
    assert got["date_mod"] == ticket["date_mod"]


@pytest.mark.parametrize(("given", "code", "status", "text"), [
    ({"client_secret": "wrong"}, "invalid_client", 401, "Client authentication failed"),
    ({"client_id": "nobody"}, "invalid_client", 401, "Client authentication failed"),
    ({"password": "wrong"}, "invalid_grant", 400, "The user credentials were incorrect."),
])
async def test_bad_credentials_are_a_clear_permanent_error(glpi, given, code, status, text):
    async with client(glpi, **given) as api:
        with pytest.raises(GlpiError) as caught:
            await api.get_ticket(1)
    assert caught.value.permanent and (caught.value.code, caught.value.http_status) == (code, status)
    assert caught.value.detail == f"GLPI answered {status} to the password grant: {code}: {text}"
    assert hl_calls(glpi) == ["POST /token"]  # nothing else was tried


async def test_an_expired_token_logs_in_again_and_the_call_succeeds(glpi):
    ticket = glpi.fake.add_ticket(name="Printer jam")
    async with client(glpi) as api:
        await api.get_ticket(ticket["id"])
        glpi.fake.hl.expire_tokens()
        assert (await api.get_ticket(ticket["id"]))["name"] == "Printer jam"
    assert glpi.fake.hl.grants == ["password", "password"]
    assert hl_calls(glpi).count(f"GET /v2/Assistance/Ticket/{ticket['id']}") == 3  # the second one got a 401


async def test_a_token_about_to_expire_is_refreshed_before_the_call(glpi):
    ticket = glpi.fake.add_ticket(name="Printer jam")
    glpi.fake.hl.expires_in = 30  # within the client's margin: every call refreshes first
    async with client(glpi) as api:
        await api.get_ticket(ticket["id"])
        await api.get_ticket(ticket["id"])
        glpi.fake.hl.refresh_tokens.clear()  # the refresh token was revoked: a new login instead
        await api.get_ticket(ticket["id"])
    assert glpi.fake.hl.grants == ["password", "refresh_token", "refresh_token", "password"]
    assert hl_calls(glpi).count(f"GET /v2/Assistance/Ticket/{ticket['id']}") == 3  # no call was refused


async def test_a_search_is_read_across_pages_newest_first(glpi):
    made = [glpi.fake.add_ticket(name=f"ticket {i}") for i in range(7)]
    async with client(glpi) as api:
        rows = [row async for row in api.tickets_by_date_mod(page_size=3)]
    assert [r["id"] for r in rows] == [t["id"] for t in reversed(made)]
    searches = [r for r in glpi.fake.requests if r.path == "/api.php/v2/Assistance/Ticket"]
    assert len(searches) == 3  # 0-2 (206), 3-5 (206), 6 (200)


async def test_tickets_follow_ups_and_solutions_are_written_in_the_hl_shapes(glpi):
    async with client(glpi) as api:
        ticket_id = await api.create_ticket({"name": "VPN down", "content": "since 9", "type": 1, "urgency": 4,
                                             "itilcategories_id": 12, "externalid": "TCK-9", "entities_id": 0})
        await api.update_ticket(ticket_id, {"urgency": 5, "status": 4})
        followup_id = await api.add_followup(ticket_id, content="looking", private=True)
        [followup] = await api.followups(ticket_id)
        found = await api.find_ticket(externalid="TCK-9")
        assert await api.find_ticket(externalid="TCK") is None
        await api.add_solution(ticket_id, content="restarted the gateway")
        solved = await api.get_ticket(ticket_id)
    stored = glpi.fake.tickets[ticket_id]
    assert (stored["itilcategories_id"], stored["externalid"], stored["urgency"]) == (12, "TCK-9", 5)
    assert (followup["id"], followup["is_private"], followup["content"]) == (followup_id, 1, "looking")
    assert followup["date_mod"] == glpi.fake.followups[followup_id]["date_mod"]
    assert found is not None and found["id"] == ticket_id
    assert solved["status"] == 5


async def test_hl_error_objects_become_glpi_errors(glpi):
    glpi.fake.refuse_create("secret project")
    async with client(glpi) as api:
        with pytest.raises(GlpiError) as missing:
            await api.get_ticket(999)
        with pytest.raises(GlpiError) as refused:
            await api.create_ticket({"name": "secret project", "content": "x"})
        with pytest.raises(GlpiError) as invalid:
            await api.create_ticket({"name": "", "content": ""})
        glpi.fake.failing = 500
        with pytest.raises(GlpiError) as down:
            await api.get_ticket(1)
        glpi.fake.failing = None
        glpi.stop()
        with pytest.raises(GlpiError) as gone:
            await api.get_ticket(1)
    assert missing.value.detail == "GLPI answered 404 to GET Assistance/Ticket/999: ERROR_ITEM_NOT_FOUND: Not found"
    assert missing.value.permanent and missing.value.code == "ERROR_ITEM_NOT_FOUND"
    assert refused.value.permanent and refused.value.http_status == 403
    assert "You don't have permission" in refused.value.detail
    # GLPI refuses an add with a 500 and its reasons: retrying cannot help
    assert invalid.value.permanent and "Title and description are mandatory" in invalid.value.detail
    assert not down.value.permanent and down.value.http_status == 500
    assert not gone.value.permanent and "Cannot reach GLPI" in gone.value.detail


async def test_the_outbound_guard_refuses_loopback_unless_allowed(glpi):
    hl = glpi.fake.hl
    async with HlClient(glpi.hl_url, client_id=hl.client_id, client_secret="x", username="u", password="p",
                        guard=OutboundGuard(OutboundSettings(allow_private=False))) as api:
        with pytest.raises(GlpiError) as caught:
            await api.get_ticket(1)
    assert caught.value.permanent and "loopback" in caught.value.detail
    assert glpi.fake.requests == []


def test_secrets_stay_out_of_the_clients_repr(glpi):
    api = client(glpi)
    assert glpi.fake.hl.clients[glpi.fake.hl.client_id] not in repr(api)
    assert glpi.fake.hl.passwords[glpi.fake.hl.username] not in repr(api)
