"""The app with web sign-in configured: a fake OpenID Connect provider and a real SMTP server, both on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fakes.oidc_provider import CLIENT_ID, CLIENT_SECRET, FakeOidc, FakeOidcServer
from fakes.smtp_sink import Sink, SmtpSink
from fastapi import FastAPI
from pydantic import SecretStr
from signin_support import LINKS_PER_ADDRESS

from api.app import create_app
from api.integrations.smtp.settings import SmtpSettings
from api.settings import Settings
from api.web.signin.settings import OidcSettings, WebSettings


@pytest.fixture(scope="session")
def oidc_server() -> Iterator[FakeOidcServer]:
    with FakeOidcServer() as server:
        yield server


@pytest.fixture
def oidc(oidc_server: FakeOidcServer) -> Iterator[FakeOidc]:
    """The fake provider, with its knobs set back to a good sign-in after each test."""
    fake = oidc_server.fake
    yield fake
    fake.audience, fake.lifetime_s, fake.email_verified, fake.signing_key = CLIENT_ID, 300, True, None


@pytest.fixture(scope="session")
def web_smtp() -> Iterator[SmtpSink]:
    with SmtpSink() as server:
        yield server


@pytest.fixture
def mailbox(web_smtp: SmtpSink) -> Sink:
    """The SMTP sink, emptied for this test."""
    with web_smtp.sink.changed:
        web_smtp.sink.received.clear()
    return web_smtp.sink


@pytest.fixture(scope="session")
def web_settings(settings: Settings, oidc_server: FakeOidcServer, web_smtp: SmtpSink) -> Settings:
    return settings.model_copy(update={
        "oidc": OidcSettings(issuer=oidc_server.url, client_id=CLIENT_ID, client_secret=SecretStr(CLIENT_SECRET),
                             _env_file=None),
        "web": WebSettings(signin_links_per_hour=LINKS_PER_ADDRESS, signin_links_per_address_per_hour=1000,
                           _env_file=None),
        "smtp": SmtpSettings(host="127.0.0.1", port=web_smtp.port, tls="none", user=web_smtp.sink.user,
                             password=SecretStr(web_smtp.sink.password), sender="desk@deskmate.test",
                             _env_file=None)})


@pytest.fixture(scope="session")
async def web_asgi(web_settings: Settings) -> AsyncIterator[tuple[FastAPI, object]]:
    application = create_app(web_settings)
    async with LifespanManager(application) as manager:
        yield application, manager.app


@pytest.fixture
async def web(web_asgi: tuple[FastAPI, object]) -> AsyncIterator[httpx.AsyncClient]:
    """A browser-like client of the app on http://127.0.0.1 (a loopback host): its own cookie jar, asks for pages."""
    transport = httpx.ASGITransport(app=web_asgi[1])  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1",
                                 headers={"Accept": "text/html"}) as c:
        yield c
