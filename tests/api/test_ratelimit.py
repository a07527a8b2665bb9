"""Rate limits: anonymous conversation starts per address and overall, messages per conversation; atomic."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from asgi_lifespan import LifespanManager

from api.app import create_app


@pytest.fixture
async def limited(settings, conn):
    """An app with small limits, on a clean slate of rate-limit windows."""
    await conn.execute("DELETE FROM rate_limits")
    app = create_app(settings.model_copy(update={
        "chat_start_per_address_per_minute": 5, "chat_start_per_minute": 8, "chat_rate_per_minute": 3,
        "rasa_url": "http://127.0.0.1:9", "db_pool_max": 20}))
    async with LifespanManager(app) as manager:
        yield manager.app
    await conn.execute("DELETE FROM rate_limits")


def _client(app, address: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(address, 40000)), base_url="http://t")


async def test_concurrent_conversation_starts_never_pass_the_per_address_or_global_limit(limited):
    async with _client(limited, "203.0.113.7") as one, _client(limited, "198.51.100.9") as other:
        first = await asyncio.gather(*[one.post("/api/v1/chat/conversations", json={}) for _ in range(20)])
        second = await asyncio.gather(*[other.post("/api/v1/chat/conversations", json={}) for _ in range(20)])
    assert sorted(r.status_code for r in first) == [201] * 5 + [429] * 15
    assert sorted(r.status_code for r in second) == [201] * 3 + [429] * 17  # 8 overall in the minute
    for refused in (r for r in first + second if r.status_code == 429):
        assert refused.headers["content-type"] == "application/problem+json"
        assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert any("from 198.51.100.9" not in r.json()["detail"] and "busy" in r.json()["detail"]
               for r in second if r.status_code == 429)


async def test_concurrent_messages_never_pass_the_per_conversation_limit(limited):
    async with _client(limited, "192.0.2.1") as c:
        started = (await c.post("/api/v1/chat/conversations", json={})).json()
        url = f"/api/v1/chat/conversations/{started['conversation_id']}/messages"
        session = {"X-Chat-Session": started["session_token"]}
        results = await asyncio.gather(*[c.post(url, json={"text": f"hi {i}"}, headers=session) for i in range(12)])
        transcript = (await c.get(url, headers=session)).json()["messages"]
    assert sorted(r.status_code for r in results) == [200] * 3 + [429] * 9
    assert all(1 <= int(r.headers["retry-after"]) <= 60 for r in results if r.status_code == 429)
    assert len([m for m in transcript if m["direction"] == "user"]) == 3
