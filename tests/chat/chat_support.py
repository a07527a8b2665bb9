"""Helpers of the chat tests (a module of its own: every test directory has a conftest)."""

from __future__ import annotations

from api.chat.identity import sign_identity


async def start(client, settings, email: str | None = None):
    body = {"identity": sign_identity(settings, email)} if email else {}
    r = await client.post("/api/v1/chat/conversations", json=body)
    assert r.status_code == 201, r.text
    started = r.json()
    return started["conversation_id"], {"X-Chat-Session": started["session_token"]}, started
