"""Operations: health and readiness, structured logs without secrets, production settings guard."""

from __future__ import annotations

import asyncio
import json
import logging
import shutil

import httpx
import pytest
from asgi_lifespan import LifespanManager
from pydantic import ValidationError

from api import db
from api.app import create_app
from api.log import JsonFormatter, redact
from api.settings import REPO_ROOT, Settings


async def test_healthz_and_readyz(client):
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    deadline = asyncio.get_running_loop().time() + 120
    while (ready := await client.get("/readyz")).status_code == 503:  # the intent hints load at start-up
        assert ready.json()["detail"] == "The intent hints are still loading.", ready.json()
        assert asyncio.get_running_loop().time() < deadline, "the intent hints never loaded"
        await asyncio.sleep(0.2)
    assert ready.status_code == 200 and ready.json() == {"status": "ready"}


async def test_readyz_reports_pending_migrations(settings, tmp_path):
    shutil.copytree(REPO_ROOT / "migrations", tmp_path, dirs_exist_ok=True)
    (tmp_path / "0998_not_yet.sql").write_text("SELECT 1;")
    app = create_app(settings.model_copy(update={"migrations_dir": tmp_path, "auto_migrate": False}))
    async with LifespanManager(app), httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        r = await c.get("/readyz")
    assert r.status_code == 503 and "0998_not_yet.sql" in r.json()["detail"]
    assert r.headers["content-type"] == "application/problem+json"


async def test_database_outage_is_a_503_with_retry_after_and_readyz_keeps_the_error_to_itself(settings, make_actor):
    actor = await make_actor()
    app = create_app(settings.model_copy(update={"db_acquire_timeout_s": 0.5}))
    async with LifespanManager(app), httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        assert (await c.get("/api/v1/me", headers=actor.headers)).status_code == 200
        dead = db.make_pool("postgresql://deskmate:s3cret@127.0.0.1:9/nowhere?connect_timeout=1", min_size=1,
                            max_size=1, timeout=0.5)
        await dead.open(wait=False)
        real, app.state.pool = app.state.pool, dead
        try:
            ready = await c.get("/readyz")
            during = await c.post("/api/v1/tickets", json={"title": "x"}, headers=actor.headers)
        finally:
            app.state.pool = real
            await dead.close()
        after = await c.get("/readyz")
    assert ready.status_code == 503 and ready.headers["content-type"] == "application/problem+json"
    assert ready.json()["detail"] == "The database does not answer." and int(ready.headers["retry-after"]) > 0
    assert during.status_code == 503 and during.headers["content-type"] == "application/problem+json"
    assert during.json()["type"] == "/problems/database-unavailable" and int(during.headers["retry-after"]) > 0
    assert "s3cret" not in during.text + ready.text and "Pool" not in during.text + ready.text
    assert after.status_code == 200


async def test_access_log_is_json_with_request_id_and_no_token(client, make_actor, caplog):
    actor = await make_actor()
    caplog.set_level(logging.INFO, logger="deskmate.access")
    r = await client.get("/api/v1/me", headers=actor.headers | {"X-Request-ID": "req-abc-123"})
    assert r.headers["x-request-id"] == "req-abc-123"
    record = next(rec for rec in caplog.records if rec.name == "deskmate.access")
    line = json.loads(JsonFormatter().format(record))
    assert line["path"] == "/api/v1/me" and line["status"] == 200 and line["user_id"] == actor.user.id
    assert actor.token not in caplog.text


async def test_unsafe_request_id_is_replaced(client):
    r = await client.get("/healthz", headers={"X-Request-ID": "bad id\nwith newline"})
    assert r.headers["x-request-id"] != "bad id\nwith newline" and len(r.headers["x-request-id"]) == 32


@pytest.mark.parametrize("text", [
    "Authorization: Bearer dm_abcdefghijklmnop",
    "token=dm_abcdefghijklmnop",
    '{"password": "hunter2hunter2"}',
    "api_key=sk-live-1234567890",
])
async def test_redaction_masks_secrets(text):
    cleaned = redact(text)
    for secret in ("abcdefghijklmnop", "hunter2hunter2", "sk-live-1234567890"):
        assert secret not in cleaned
    assert "***" in cleaned


async def test_json_formatter_redacts_secrets_in_messages():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "calling with Bearer dm_supersecretvalue", (), None)
    assert "supersecretvalue" not in JsonFormatter().format(record)


def test_production_refuses_placeholder_secrets():
    with pytest.raises(ValidationError, match="DESKMATE_SECRET_KEY"):
        Settings(env="production", secret_key="changeme", database_url="postgresql://x/y", _env_file=None)
    with pytest.raises(ValidationError, match="DATABASE_URL must be set"):
        Settings(env="production", secret_key="x" * 40, _env_file=None)
    bot_path = {"assertion_key": "a" * 40, "rasa_channel_secret": "c" * 40, "actions_secret": "s" * 40}
    for missing in bot_path:
        with pytest.raises(ValidationError, match=missing.upper()):
            Settings(env="production", secret_key="x" * 40, database_url="postgresql://x/y", _env_file=None,
                     **{k: v for k, v in bot_path.items() if k != missing})
    ok = Settings(env="production", secret_key="x" * 40, database_url="postgresql://x/y", _env_file=None, **bot_path)
    assert "x" * 40 not in repr(ok) and "a" * 40 not in repr(ok)
