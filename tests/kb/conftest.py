"""Fixtures of the knowledge-base API tests: the app with the shared embedder and the demo KB, the fake LLM."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fakes.openai_server import FakeOpenAI
from kb import llama_server, support

import kb_index
from api.auth.models import Role


@pytest.fixture(scope="session")
def embedder() -> kb_index.Embedder:
    return support.embedder()


@pytest.fixture(scope="session")
async def demo_kb(database_url: str) -> kb_index.IngestReport:
    return await support.ensure_demo_kb(database_url)


@pytest.fixture(scope="session")
async def kb_client(app: Any, client: httpx.AsyncClient, embedder: kb_index.Embedder,
                    demo_kb: kb_index.IngestReport) -> httpx.AsyncClient:
    """The session client, with the app using the session's embedder (the model loads once)."""
    app.state.embedder = app.state.kb_embedder = embedder
    return client


@pytest.fixture(scope="session")
def llm_server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def fake_llm(app: Any, llm_server: FakeOpenAI) -> Iterator[FakeOpenAI]:
    """Points the app's answers at the fake LLM for one test, then back to extractive."""
    llm_server.reset()
    app.state.llm = kb_index.make_llm(kb_index.LLMConfig(
        model="fake-model", base_url=llm_server.base_url, api_key="test-key", timeout_s=2, max_retries=0))
    yield llm_server
    app.state.llm = None


@pytest.fixture(scope="session")
def smollm2(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real llama.cpp server with SmolLM2-135M (the llm-test extra); yields its base URL.

    Skipped when the extra is not installed, unless DESKMATE_REQUIRE_LLM is set (``make test`` sets it)."""
    if reason := llama_server.missing():
        if os.environ.get("DESKMATE_REQUIRE_LLM"):
            pytest.fail(f"DESKMATE_REQUIRE_LLM is set but {reason}")
        pytest.skip(reason)
    log = Path(tmp_path_factory.mktemp("llama")) / "server.log"
    with llama_server.llama_server(log) as base_url:
        yield base_url


@pytest.fixture
async def article(kb_client: httpx.AsyncClient, make_actor: Any) -> AsyncIterator[Any]:
    """Creates articles through the API as an admin and deletes them after the test."""
    admin = await make_actor(Role.admin)
    created: list[str] = []

    async def make(**body: Any) -> dict[str, Any]:
        r = await kb_client.post("/api/v1/kb/articles", json=body, headers=admin.headers)
        assert r.status_code == 201, r.text
        created.append(r.json()["id"])
        return r.json()

    yield make
    for article_id in created:
        await kb_client.delete(f"/api/v1/kb/articles/{article_id}", headers=admin.headers)
