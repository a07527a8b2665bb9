"""Schemathesis over the whole OpenAPI document, as an employee, an agent and an admin.

Every operation gets ``EXAMPLES`` generated requests per role (fixed seed: ``derandomize``), sent to the
real app in-process on its own database (admins fuzzing DELETE must not disturb other tests). Each
response must not be a 5xx and must match what the document promises: status code, content type,
headers and body schema. The test fails listing every operation that broke a check, then checks that
at least ``MIN_REQUESTS`` requests were made.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest
import schemathesis
from fakes.rasa_server import FakeRasa, FakeRasaServer
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from psycopg.rows import dict_row
from pydantic import SecretStr
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api import migrate
from api.app import create_app
from api.auth import service as people
from api.auth.models import Role, UserCreate
from api.chat.rasa import channel_secret
from api.dev import demo, embedded_pg
from api.settings import REPO_ROOT, Settings

FUZZ_DB = "deskmate_fuzz"
EXAMPLES = 6
MIN_REQUESTS = 1000
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]


@pytest.fixture(scope="module")
async def fuzz_database(pg_server: str, settings: Settings) -> AsyncIterator[str]:
    embedded_pg.drop_database(pg_server, FUZZ_DB)
    embedded_pg.ensure_database(pg_server, FUZZ_DB)
    url = pg_server.replace("/postgres?", f"/{FUZZ_DB}?")
    migrate.migrate(url, REPO_ROOT / "migrations")
    async with await psycopg.AsyncConnection.connect(url, autocommit=True, row_factory=dict_row) as conn:
        await demo.seed(conn, path=REPO_ROOT / "data" / "demo" / "org.yml",
                        tokens_file=settings.data_dir / "fuzz-tokens.env")
    yield url
    embedded_pg.drop_database(pg_server, FUZZ_DB)


@pytest.fixture(scope="module")
async def tokens(fuzz_database: str) -> dict[Role, str]:
    async with await psycopg.AsyncConnection.connect(fuzz_database, autocommit=True, row_factory=dict_row) as conn:
        made = {}
        for role in (Role.employee, Role.agent, Role.admin):
            user = await people.create_user(conn, data=UserCreate(
                email=f"fuzz-{role}@example.com", name=f"Fuzz {role}", role=role,
                team_slugs=["service-desk"] if role is Role.agent else []))
            made[role] = (await people.create_token(conn, user=user)).token
    return made


@dataclass
class Tally:
    requests: int = 0
    failures: list[str] = field(default_factory=list)


def _fuzz(operation: Any, headers: dict[str, str], tally: Tally) -> None:
    @given(case=operation.as_strategy())
    @hypothesis_settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
                         suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
    def run(case: Any) -> None:
        tally.requests += 1
        case.call_and_validate(headers=headers, checks=CHECKS)

    run()


@pytest.fixture(scope="module")
def rasa(settings) -> Iterator[FakeRasa]:
    with FakeRasaServer(secret=channel_secret(settings)) as fake:
        yield fake


def test_every_operation_as_every_role_answers_as_documented(fuzz_database, tokens, settings, rasa):
    app = create_app(settings.model_copy(update={
        "database_url": SecretStr(fuzz_database), "rasa_url": rasa.url,
        "kb_preload_model": True, "chat_start_per_address_per_minute": 10_000, "chat_start_per_minute": 10_000}))
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    tally = Tally()
    for result in schema.get_all_operations():
        operation = result.ok()
        for role, token in tokens.items():
            try:
                _fuzz(operation, {"Authorization": f"Bearer {token}"}, tally)
            except (Exception, BaseExceptionGroup) as exc:  # every operation's failures, then report them all
                tally.failures.append(f"{role} {operation.label}: {str(exc)[:1500]}")
    print(f"schemathesis: {tally.requests} requests, {len(tally.failures)} failing operations")  # noqa: T201
    assert not tally.failures, "\n\n".join(tally.failures)
    assert tally.requests >= MIN_REQUESTS
