"""OpenID Connect sign-in against a fake provider over real HTTP: a good login, a bad state, a wrong audience,
an expired id token, an unverified or unknown e-mail address."""

from __future__ import annotations

import time
import uuid
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fakes.oidc_provider import CLIENT_ID, FakeOidc, new_key
from joserfc import jwt
from pydantic import ValidationError
from signin_support import COOKIE

from api.auth.models import Role
from api.settings import Settings
from api.web.signin.oidc import PENDING_COOKIE, OidcProvider, SignInFailed
from api.web.signin.settings import OidcSettings


async def _to_provider(web: httpx.AsyncClient, next_path: str | None = None) -> str:
    """Starts a sign-in; returns the provider's answer to the authorization request (the way back)."""
    started = await web.get("/signin/oidc", params={"next": next_path} if next_path else None)
    assert started.status_code == 302 and PENDING_COOKIE in started.cookies
    async with httpx.AsyncClient() as provider:  # the browser's trip to the provider, over real HTTP
        answered = await provider.get(started.headers["location"])
    assert answered.status_code == 302, answered.text
    return answered.headers["location"]


async def test_a_good_login_starts_a_session_for_the_matching_user(
        web: httpx.AsyncClient, oidc: FakeOidc, make_actor) -> None:
    agent = await make_actor(Role.agent)
    oidc.email = agent.user.email.upper()  # matched without regard to case
    back = await _to_provider(web, next_path="/console?queue=mine")
    asked = oidc.authorize_requests[-1]
    assert asked["code_challenge_method"] == "S256" and asked["nonce"] and asked["state"]
    assert asked["redirect_uri"] == "http://127.0.0.1/signin/oidc/callback"
    signed_in = await web.get(back)
    assert signed_in.status_code == 303, signed_in.text
    assert signed_in.headers["location"] == "/console?queue=mine"
    assert COOKIE in signed_in.cookies
    console = await web.get("/console")
    assert console.status_code == 200 and agent.user.email in console.text


async def test_a_bad_state_signs_nobody_in(web: httpx.AsyncClient, oidc: FakeOidc, make_actor) -> None:
    oidc.email = (await make_actor(Role.agent)).user.email
    back = urlsplit(await _to_provider(web))
    query = parse_qs(back.query)
    refused = await web.get(back.path, params={"code": query["code"][0], "state": query["state"][0] + "x"})
    assert refused.status_code == 400 and "state mismatch" in refused.text
    assert COOKIE not in web.cookies


async def test_a_callback_without_the_browsers_attempt_is_refused(
        web: httpx.AsyncClient, oidc: FakeOidc, make_actor) -> None:
    oidc.email = (await make_actor(Role.agent)).user.email
    back = await _to_provider(web)
    web.cookies.delete(PENDING_COOKIE, domain="127.0.0.1", path="/signin/oidc")  # another browser, same URL
    refused = await web.get(back)
    assert refused.status_code == 400 and "not started in this browser" in refused.text
    assert COOKIE not in web.cookies


async def test_an_id_token_for_another_audience_is_refused(web: httpx.AsyncClient, oidc: FakeOidc, make_actor) -> None:
    oidc.email, oidc.audience = (await make_actor(Role.agent)).user.email, "some-other-app"
    refused = await web.get(await _to_provider(web))
    assert refused.status_code == 400 and "id token" in refused.text and "aud" in refused.text
    assert COOKIE not in web.cookies


async def test_an_expired_id_token_is_refused(web: httpx.AsyncClient, oidc: FakeOidc, make_actor) -> None:
    oidc.email, oidc.lifetime_s = (await make_actor(Role.agent)).user.email, -3600
    refused = await web.get(await _to_provider(web))
    assert refused.status_code == 400 and "exp" in refused.text
    assert COOKIE not in web.cookies


async def test_an_unverified_address_is_refused(web: httpx.AsyncClient, oidc: FakeOidc, make_actor) -> None:
    oidc.email, oidc.email_verified = (await make_actor(Role.agent)).user.email, False
    refused = await web.get(await _to_provider(web))
    assert refused.status_code == 400 and "not verified" in refused.text


async def test_a_person_without_an_account_gets_a_clear_page_and_no_session(
        web: httpx.AsyncClient, oidc: FakeOidc) -> None:
    oidc.email = "stranger@example.com"
    refused = await web.get(await _to_provider(web))
    assert refused.status_code == 403
    assert "stranger@example.com has no active deskmate account" in refused.text
    assert refused.headers["content-type"].startswith("text/html")
    assert COOKIE not in web.cookies


async def test_an_id_token_signed_with_an_unpublished_key_is_refused(
        web: httpx.AsyncClient, oidc: FakeOidc, make_actor) -> None:
    oidc.email, oidc.signing_key = (await make_actor(Role.agent)).user.email, new_key(oidc.key.kid)  # same kid, other key
    refused = await web.get(await _to_provider(web))
    assert refused.status_code == 400 and "not valid" in refused.text
    assert COOKIE not in web.cookies


async def test_a_rotated_provider_key_is_fetched_again(
        web: httpx.AsyncClient, oidc: FakeOidc, make_actor) -> None:
    oidc.email = (await make_actor(Role.agent)).user.email
    assert (await web.get(await _to_provider(web))).status_code == 303  # the app has cached the current keys
    web.cookies.clear()
    oidc.key = new_key(f"k-{uuid.uuid4().hex[:6]}")
    assert (await web.get(await _to_provider(web))).status_code == 303


async def test_the_way_back_goes_only_to_a_page_of_this_site(
        web: httpx.AsyncClient, oidc: FakeOidc, make_actor) -> None:
    oidc.email = (await make_actor(Role.agent)).user.email
    signed_in = await web.get(await _to_provider(web, next_path="//evil.example/steal"))
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/console"


def test_the_provider_must_be_reached_over_https() -> None:
    assert OidcSettings(issuer="https://login.example.com/t/v2.0", _env_file=None).issuer  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="must be an https:// URL"):
        OidcSettings(issuer="http://login.example.com", _env_file=None)  # type: ignore[call-arg]


async def test_an_id_token_from_another_sign_in_attempt_is_refused(oidc: FakeOidc, web_settings: Settings) -> None:
    now = int(time.time())
    claims = {"iss": oidc.issuer, "aud": CLIENT_ID, "sub": "s1", "iat": now, "exp": now + 60, "nonce": "theirs",
              "email": "someone@example.com"}
    token = jwt.encode({"alg": "RS256", "kid": oidc.key.kid}, claims, oidc.key)
    provider = OidcProvider(web_settings.oidc)
    assert (await provider.verify_id_token(token, nonce="theirs"))["sub"] == "s1"
    with pytest.raises(SignInFailed, match="nonce"):
        await provider.verify_id_token(token, nonce="mine")
