"""Token and user lifecycle: expiry with a clear 401, revocation, last use recorded cheaply, deactivation
(tokens revoked, tickets kept) — through the service, the admin API and the CLI."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from typer.testing import CliRunner

from api.auth import service as people
from api.auth.models import Role, UserCreate
from api.cli import app as cli
from api.settings import Settings, get_settings


async def _user(conn, role: Role = Role.employee):
    email = f"life-{uuid.uuid4().hex[:10]}@example.com"
    return await people.create_user(conn, data=UserCreate(email=email, name="Life Cycle", role=role))


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _last_used(conn, token_id: int):
    row = await (await conn.execute("SELECT last_used_at FROM api_tokens WHERE id = %s", (token_id,))).fetchone()
    return row["last_used_at"]


async def test_an_expired_token_gets_401_saying_it_expired(client, conn):
    user = await _user(conn)
    created = await people.create_token(conn, user=user, expires_at=datetime.now(UTC) - timedelta(seconds=1))
    r = await client.get("/api/v1/me", headers=_bearer(created.token))
    assert r.status_code == 401
    assert r.json()["type"] == "/problems/token-expired" and "expired on" in r.json()["detail"]


async def test_a_revoked_token_gets_401_saying_it_was_revoked(client, conn):
    created = await people.create_token(conn, user=await _user(conn))
    assert (await client.get("/api/v1/me", headers=_bearer(created.token))).status_code == 200
    await people.revoke_token(conn, prefix=created.prefix)
    r = await client.get("/api/v1/me", headers=_bearer(created.token))
    assert r.status_code == 401 and r.json()["type"] == "/problems/token-revoked"
    unknown = await client.get("/api/v1/me", headers=_bearer("dm_" + "x" * 43))
    assert unknown.status_code == 401 and "unknown" in unknown.json()["detail"]


async def test_every_use_records_last_used_at_at_most_once_a_minute(client, conn):
    created = await people.create_token(conn, user=await _user(conn))
    assert await _last_used(conn, created.id) is None
    assert (await client.get("/api/v1/me", headers=_bearer(created.token))).status_code == 200
    first = await _last_used(conn, created.id)
    assert first is not None
    await client.get("/api/v1/me", headers=_bearer(created.token))
    assert await _last_used(conn, created.id) == first  # used again within the minute: no write
    await conn.execute("UPDATE api_tokens SET last_used_at = now() - interval '2 minutes' WHERE id = %s",
                       (created.id,))
    stale = await _last_used(conn, created.id)
    await client.get("/api/v1/me", headers=_bearer(created.token))
    assert await _last_used(conn, created.id) > stale


def test_default_lifetimes_people_90_days_services_never():
    now = datetime(2026, 1, 1, tzinfo=UTC)
    settings = Settings(env="test", _env_file=None)  # type: ignore[call-arg]
    assert people.default_expiry(settings, Role.employee, now=now) == now + timedelta(days=90)
    assert people.default_expiry(settings, Role.admin, now=now) == now + timedelta(days=90)
    assert people.default_expiry(settings, Role.service, now=now) is None
    custom = Settings(env="test", token_expiry_days=7, service_token_expiry_days=365, _env_file=None)  # type: ignore[call-arg]
    assert people.default_expiry(custom, Role.agent, now=now) == now + timedelta(days=7)
    assert people.default_expiry(custom, Role.service, now=now) == now + timedelta(days=365)


async def test_deactivating_a_user_revokes_their_tokens_and_keeps_their_tickets(client, conn, make_actor):
    employee = await make_actor()
    admin = await make_actor(Role.admin)
    ticket = (await client.post("/api/v1/tickets", json={"title": "Keep me"}, headers=employee.headers)).json()
    r = await client.post(f"/api/v1/users/{employee.user.id}/deactivate", headers=admin.headers)
    assert r.status_code == 200 and r.json()["active"] is False and r.json()["deactivated_at"]
    assert (await client.get("/api/v1/me", headers=employee.headers)).status_code == 401
    assert await people.list_tokens(conn, user_id=employee.user.id, live_only=True) == []
    kept = await client.get(f"/api/v1/tickets/{ticket['id']}", headers=admin.headers)
    assert kept.status_code == 200 and kept.json()["requester_id"] == employee.user.id
    user = await people.get_or_raise(conn, user_id=employee.user.id)
    with pytest.raises(Exception, match="deactivated"):
        await people.create_token(conn, user=user)


async def test_admin_api_issues_lists_and_revokes_tokens(client, conn, make_actor):
    admin, agent = await make_actor(Role.admin), await make_actor(Role.agent)
    target = await _user(conn)
    for path, method in (("/api/v1/tokens", "GET"), ("/api/v1/tokens", "POST"), ("/api/v1/tokens/1", "DELETE"),
                         (f"/api/v1/users/{target.id}/deactivate", "POST")):
        assert (await client.request(method, path, json={"user_id": target.id}, headers=agent.headers)).status_code == 403
    issued = await client.post("/api/v1/tokens", json={"user_id": target.id, "name": "laptop", "expires_in_days": 30},
                               headers=admin.headers)
    assert issued.status_code == 201, issued.text
    body = issued.json()
    expires = datetime.fromisoformat(body["expires_at"])
    assert timedelta(days=29) < expires - datetime.now(UTC) <= timedelta(days=30)
    assert (await client.get("/api/v1/me", headers=_bearer(body["token"]))).json()["id"] == target.id
    listed = (await client.get(f"/api/v1/tokens?user_id={target.id}", headers=admin.headers)).json()
    assert [t["prefix"] for t in listed] == [body["prefix"]] and "token" not in listed[0]
    assert listed[0]["state"] == "active" and listed[0]["last_used_at"] is not None
    never = await client.post("/api/v1/tokens", json={"user_id": target.id, "never_expires": True},
                              headers=admin.headers)
    assert never.status_code == 422  # people's tokens always expire
    assert (await client.delete(f"/api/v1/tokens/{body['id']}", headers=admin.headers)).status_code == 204
    assert (await client.get("/api/v1/me", headers=_bearer(body["token"]))).status_code == 401
    everything = (await client.get(f"/api/v1/tokens?user_id={target.id}&include_inactive=true",
                                   headers=admin.headers)).json()
    assert [t["state"] for t in everything] == ["revoked"]


@pytest.fixture
def runner(monkeypatch, settings):
    monkeypatch.setenv("DATABASE_URL", settings.database_url.get_secret_value())
    monkeypatch.setenv("DESKMATE_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("DESKMATE_ENV", "test")
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def test_cli_token_lifecycle(runner, live_server):
    client = httpx.Client(base_url=live_server)
    email = f"cli-{uuid.uuid4().hex[:8]}@example.com"
    created = runner.invoke(cli, ["token", "create", "--email", email, "--expires-in", "12h"])
    assert created.exit_code == 0, created.output
    token = created.stdout.strip().splitlines()[-1]
    assert token.startswith("dm_") and "expires" in created.stderr
    assert (client.get("/api/v1/me", headers=_bearer(token))).status_code == 200
    listed = runner.invoke(cli, ["token", "list", "--email", email])
    assert listed.exit_code == 0 and token[:9] in listed.stdout and "active" in listed.stdout
    assert token not in listed.stdout
    refused = runner.invoke(cli, ["token", "create", "--email", email, "--expires-in", "never"])
    assert refused.exit_code == 1 and "only service tokens may never expire" in refused.stderr
    assert runner.invoke(cli, ["token", "create", "--email", email, "--expires-in", "soon"]).exit_code == 1
    revoked = runner.invoke(cli, ["token", "revoke", token[:9]])
    assert revoked.exit_code == 0 and "revoked" in revoked.stdout
    assert (client.get("/api/v1/me", headers=_bearer(token))).status_code == 401
    assert runner.invoke(cli, ["token", "revoke", "dm_nope00"]).exit_code == 1


def test_cli_user_deactivate(runner, live_server):
    client = httpx.Client(base_url=live_server)
    email = f"leaver-{uuid.uuid4().hex[:8]}@example.com"
    token = runner.invoke(cli, ["token", "create", "--email", email]).stdout.strip().splitlines()[-1]
    second = runner.invoke(cli, ["token", "create", "--email", email]).stdout.strip().splitlines()[-1]
    done = runner.invoke(cli, ["user", "deactivate", email])
    assert done.exit_code == 0 and "2 tokens revoked" in done.stdout
    for t in (token, second):
        assert (client.get("/api/v1/me", headers=_bearer(t))).status_code == 401
    again = runner.invoke(cli, ["token", "create", "--email", email])
    assert again.exit_code == 1 and "deactivated" in again.stderr
