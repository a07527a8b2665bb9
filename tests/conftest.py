"""Shared fixtures: one migrated database on the embedded server for the session, the app, factories."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest
from asgi_lifespan import LifespanManager
from fakes.slapd_server import GROUPS, LAYOUT, PASSWORDS, PEOPLE, Slapd
from fakes.smtp_sink import SmtpSink
from fakes.twilio_server import FakeTwilioServer
from fakes.webhook_receiver import Receiver, ReceiverServer
from fastapi import FastAPI
from psycopg.rows import dict_row
from pydantic import SecretStr

from api import migrate
from api.app import create_app
from api.auth import service as people
from api.auth.models import Role, TeamCreate, User, UserCreate
from api.dev import demo, embedded_pg, stack
from api.integrations.ldap.slapd import ldif
from api.integrations.smtp.settings import SmtpSettings
from api.integrations.twilio.settings import TwilioSettings
from api.settings import REPO_ROOT, Settings

TEST_DATA_DIR = Path(os.environ.get("DESKMATE_TEST_DATA_DIR", REPO_ROOT / "var" / "test"))
TEST_DB = "deskmate_test"


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """The embedded server for tests; yields its admin URL."""
    server, _ = embedded_pg.start(TEST_DATA_DIR)
    yield server.get_uri()


@pytest.fixture(scope="session")
async def database_url(pg_server: str) -> str:
    """A fresh, migrated test database with the demo organisation's teams and categories."""
    embedded_pg.drop_database(pg_server, TEST_DB)
    embedded_pg.ensure_database(pg_server, TEST_DB)
    url = pg_server.replace("/postgres?", f"/{TEST_DB}?")
    migrate.migrate(url, REPO_ROOT / "migrations")
    async with await psycopg.AsyncConnection.connect(url, autocommit=True, row_factory=dict_row) as conn:
        await demo.seed(conn, path=REPO_ROOT / "data" / "demo" / "org.yml", tokens_file=TEST_DATA_DIR / "tokens.env",
                        settings=Settings(env="test", data_dir=TEST_DATA_DIR, _env_file=None))  # type: ignore[call-arg]
    return url


@pytest.fixture(scope="session")
def slapd() -> Iterator[Slapd]:
    """A real slapd (ppolicy overlay) for the session, seeded with tests/fakes/slapd_server.py's organisation."""
    seed = ldif(LAYOUT, people=PEOPLE, groups=GROUPS, services=PASSWORDS)
    with Slapd(LAYOUT, seed, writers=[LAYOUT.service("deskmate")]) as server:
        yield server


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    """A real SMTP server (aiosmtpd) that keeps what it receives."""
    with SmtpSink() as server:
        yield server


@pytest.fixture
def twilio() -> Iterator[FakeTwilioServer]:
    """The Twilio fake (the real SDK talks to it)."""
    with FakeTwilioServer() as server:
        yield server


@pytest.fixture
def receiver() -> Iterator[ReceiverServer]:
    """A webhook receiver that checks deskmate's signature with its secret."""
    with ReceiverServer(Receiver(secret="whsec_" + secrets.token_urlsafe(24))) as server:
        yield server


@pytest.fixture
def delivery_settings(settings: Settings, smtp: SmtpSink, twilio: FakeTwilioServer) -> Settings:
    """The test settings with SMS and e-mail going to the fakes."""
    return settings.model_copy(update={
        "smtp": SmtpSettings(host="127.0.0.1", port=smtp.port, tls="none", user=smtp.sink.user,
                             password=SecretStr(smtp.sink.password), sender="desk@deskmate.test", _env_file=None),
        "twilio": TwilioSettings(account_sid=twilio.fake.account_sid, auth_token=SecretStr(twilio.fake.auth_token),
                                 from_number=twilio.fake.from_numbers[0], base_url=twilio.url, _env_file=None)})


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    return Settings(env="test", database_url=database_url, data_dir=TEST_DATA_DIR, log_json=True,
                    max_body_bytes=64 * 1024, _env_file=None)  # type: ignore[call-arg]


@pytest.fixture(scope="session")
async def running_app(settings: Settings) -> AsyncIterator[tuple[FastAPI, object]]:
    """The app with its lifespan entered: (the FastAPI object, the ASGI callable to send requests to)."""
    application = create_app(settings)
    async with LifespanManager(application) as manager:
        yield application, manager.app


@pytest.fixture(scope="session")
def app(running_app: tuple[FastAPI, object]) -> FastAPI:
    return running_app[0]


@pytest.fixture(scope="session")
async def client(running_app: tuple[FastAPI, object]) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=running_app[1])  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[psycopg.AsyncConnection]:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True, row_factory=dict_row) as c:
        yield c


@dataclass
class Actor:
    user: User
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture
def make_actor(conn: psycopg.AsyncConnection):
    """Creates a user with a token: ``await make_actor(Role.agent, teams=[slug])``."""

    async def make(role: Role = Role.employee, *, teams: tuple[str, ...] = (), **fields: object) -> Actor:
        email = f"{role}-{uuid.uuid4().hex[:10]}@example.com"
        user = await people.create_user(conn, data=UserCreate(
            email=email, name=f"Test {role}", role=role, team_slugs=list(teams), **fields))
        created = await people.create_token(conn, user=user)
        return Actor(user=user, token=created.token)

    return make


@pytest.fixture
def make_team(conn: psycopg.AsyncConnection):
    async def make() -> str:
        slug = f"team-{uuid.uuid4().hex[:8]}"
        await people.create_team(conn, data=TeamCreate(slug=slug, name=slug))
        return slug

    return make


@pytest.fixture
def principal_of(conn: psycopg.AsyncConnection):
    """The request principal of an Actor: ``await principal_of(actor)``."""

    async def principal(actor: Actor):
        return await people.principal_for_token(conn, token=actor.token)

    return principal


@pytest.fixture
def ticket_jobs(conn: psycopg.AsyncConnection):
    """The procrastinate jobs queued for a ticket, oldest first: ``await ticket_jobs(ticket_id)``."""

    async def jobs(ticket_id: int) -> list[dict]:
        cur = await conn.execute("SELECT task_name, queue_name, lock, status FROM procrastinate_jobs "
                                 "WHERE args->>'ticket_id' = %s ORDER BY id", (str(ticket_id),))
        return list(await cur.fetchall())

    return jobs


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def live_server(database_url: str) -> Iterator[str]:
    """The api as a real uvicorn process on a free port, for tests that need real concurrency."""
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "DESKMATE_ENV": "test", "DESKMATE_PORT": str(port),
           "DESKMATE_DATA_DIR": str(TEST_DATA_DIR), "DESKMATE_LOG_LEVEL": "WARNING"}
    proc = subprocess.Popen([sys.executable, "-m", "api.cli", "serve"], env=env, cwd=REPO_ROOT)
    url = f"http://127.0.0.1:{port}"
    stack.wait_until_ready(f"{url}/readyz", proc, timeout_s=180, what="the api")  # ready = hints loaded
    yield url
    proc.terminate()
    proc.wait(10)
