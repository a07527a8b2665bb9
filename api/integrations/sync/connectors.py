"""Connector instances: create, read, change, delete; secrets encrypted at rest (api/crypto.py), never shown."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from psycopg.errors import UniqueViolation
from psycopg.types.json import Jsonb

from api import crypto, idempotency, sql
from api.auth.models import Principal, Role
from api.db import Conn
from api.errors import Conflict, NotFound, OutboundRefused, ValidationFailed
from api.integrations.glpi import webhooks
from api.integrations.glpi.mapping import GlpiConfig
from api.integrations.outbound import OutboundGuard
from api.integrations.sync.models import Connector, ConnectorIn, ConnectorPatch, missing_credentials
from api.settings import Settings

Q = sql.load("api.integrations.sync")
OAUTH_COLUMNS = {"client_secret": "oauth_client_secret_encrypted", "password": "oauth_password_encrypted"}  # HL API


@dataclass(frozen=True)
class Runtime:
    """A connector with its secrets decrypted, for the engine (never returned by the API)."""

    id: int
    name: str
    kind: str
    base_url: str
    config: GlpiConfig
    enabled: bool
    inbound_cursor: str | None
    user_token: str = field(repr=False)
    app_token: str | None = field(repr=False)
    client_secret: str | None = field(default=None, repr=False)  # the HL API's (config.api == "hl")
    password: str | None = field(default=None, repr=False)


def _public(row: dict[str, Any]) -> Connector:
    return Connector(**row, has_user_token=row["user_token_encrypted"] is not None,
                     has_app_token=row["app_token_encrypted"] is not None,
                     has_client_secret=row.get(OAUTH_COLUMNS["client_secret"]) is not None,
                     has_password=row.get(OAUTH_COLUMNS["password"]) is not None,
                     has_webhook_secret=row.get("webhook_secret_encrypted") is not None)


async def _set_oauth(conn: Conn, row: dict[str, Any], secrets: dict[str, str | None]) -> dict[str, Any]:
    """Stores the HL API's encrypted secrets (``secrets``: name → Fernet token; the others kept)."""
    params = {name: secrets.get(name, row.get(column)) for name, column in OAUTH_COLUMNS.items()}
    updated = await (await conn.execute(Q.set_oauth_secrets, params | {"id": row["id"]})).fetchone()
    assert updated is not None
    return dict(updated)


def _check_credentials(config: GlpiConfig, row: dict[str, Any]) -> None:
    columns = {"user_token": "user_token_encrypted", "app_token": "app_token_encrypted"} | OAUTH_COLUMNS
    missing = missing_credentials(config, secrets={n for n, column in columns.items() if row.get(column)})
    if missing:
        raise ValidationFailed(f"The {config.api} API needs {', '.join(missing)}.")


def _check_url(settings: Settings, url: str) -> None:
    """An http(s) URL the outbound guard accepts (a literal private address only when allowed)."""
    try:
        OutboundGuard(settings.outbound).check_url(url)
    except OutboundRefused as exc:
        raise ValidationFailed(exc.detail) from exc


def _encrypted(settings: Settings, secret: Any) -> str | None:
    return crypto.encrypt(settings, secret.get_secret_value()) if secret is not None else None


async def _row(conn: Conn, name: str) -> dict[str, Any]:
    row = await (await conn.execute(Q.get_connector, {"name": name, "id": None})).fetchone()
    if row is None:
        raise NotFound(f"No sync connector {name!r}.")
    return dict(row)


CREATE_SCOPE = "sync.connectors.create"


async def create(conn: Conn, *, data: ConnectorIn, settings: Settings, actor_id: int,
                 idempotency_key: str | None = None) -> tuple[Connector, bool]:
    """Creates a connector; returns it and whether it is new (False: replay of an idempotent request)."""
    _check_url(settings, data.base_url)
    async with conn.transaction():
        if idempotency_key:
            earlier = await idempotency.claim(conn, user_id=actor_id, scope=CREATE_SCOPE, key=idempotency_key,
                                              payload=data.model_dump(mode="json"))  # secrets masked
            if earlier is not None:
                row = await (await conn.execute(Q.get_connector, {"name": None, "id": earlier})).fetchone()
                if row is None:
                    raise Conflict("The connector this Idempotency-Key created has been deleted since.")
                return _public(row), False
        connector = await _insert(conn, data=data, settings=settings)
        if idempotency_key:
            await idempotency.record(conn, user_id=actor_id, scope=CREATE_SCOPE, key=idempotency_key,
                                     resource_id=connector.id)
    return connector, True


async def _insert(conn: Conn, *, data: ConnectorIn, settings: Settings) -> Connector:
    params = data.model_dump(mode="json", exclude={"user_token", "app_token", "webhook_secret", "config",
                                                   *OAUTH_COLUMNS}) | {
        "config": Jsonb(data.config.model_dump(mode="json")),
        "user_token_encrypted": _encrypted(settings, data.user_token),
        "app_token_encrypted": _encrypted(settings, data.app_token)}
    try:
        row = await (await conn.execute(Q.create_connector, params)).fetchone()
    except UniqueViolation as exc:
        raise Conflict(f"A sync connector named {data.name!r} exists already.") from exc
    assert row is not None
    if data.client_secret or data.password:
        row = await _set_oauth(conn, dict(row), {n: _encrypted(settings, getattr(data, n)) for n in OAUTH_COLUMNS})
    if data.webhook_secret is not None:
        row = await webhooks.set_secret(conn, connector_id=row["id"], encrypted=_encrypted(settings, data.webhook_secret))
    return _public(row)


async def get(conn: Conn, *, name: str) -> Connector:
    return _public(await _row(conn, name))


async def list_connectors(conn: Conn) -> list[Connector]:
    return [_public(r) for r in await (await conn.execute(Q.list_connectors, {"enabled_only": False})).fetchall()]


async def update(conn: Conn, *, name: str, data: ConnectorPatch, settings: Settings) -> Connector:
    async with conn.transaction():
        row = await _row(conn, name)
        given = data.model_dump(exclude_unset=True)
        if data.base_url is not None:
            _check_url(settings, data.base_url)
        config = data.config if data.config is not None else GlpiConfig(**row["config"])
        params = row | {k: v for k, v in given.items() if k in ("base_url", "enabled") and v is not None} | {
            "config": Jsonb(config.model_dump(mode="json"))}
        for field in ("user_token", "app_token"):
            if field in given:
                params[f"{field}_encrypted"] = _encrypted(settings, getattr(data, field))
        updated = await (await conn.execute(Q.update_connector, params)).fetchone()
        assert updated is not None
        updated = await _set_oauth(conn, dict(updated), {
            n: _encrypted(settings, getattr(data, n)) for n in OAUTH_COLUMNS if n in given})
        if updated["kind"] == "glpi":
            _check_credentials(config, updated)
        if "webhook_secret" in given:
            updated = await webhooks.set_secret(conn, connector_id=row["id"],
                                                encrypted=_encrypted(settings, data.webhook_secret))
    return _public(updated)


async def delete(conn: Conn, *, name: str) -> None:
    if await (await conn.execute(Q.delete_connector, {"name": name})).fetchone() is None:
        raise NotFound(f"No sync connector {name!r}.")


async def runtime(conn: Conn, settings: Settings, *, connector_id: int | None = None,
                  name: str | None = None) -> Runtime:
    """The connector with its secrets, for the engine."""
    row = await (await conn.execute(Q.get_connector, {"name": name, "id": connector_id})).fetchone()
    if row is None:
        raise NotFound(f"No sync connector {name or connector_id!r}.")
    secret = row["user_token_encrypted"]
    return Runtime(id=row["id"], name=row["name"], kind=row["kind"], base_url=row["base_url"],
                   config=GlpiConfig(**row["config"]), enabled=row["enabled"],
                   user_token=crypto.decrypt(settings, secret) if secret else "",
                   app_token=crypto.decrypt(settings, row["app_token_encrypted"]) if row["app_token_encrypted"] else None,
                   inbound_cursor=row["inbound_cursor"],
                   **{n: crypto.decrypt(settings, row[c]) for n, c in OAUTH_COLUMNS.items() if row.get(c)})


async def enabled(conn: Conn) -> list[dict[str, Any]]:
    """The enabled connectors (id, name, config), for the outbox and the poll."""
    return [dict(r) for r in await (await conn.execute(Q.list_connectors, {"enabled_only": True})).fetchall()]


async def principal(conn: Conn) -> Principal:
    """The sync system actor, with admin rights inside the process (it has no token)."""
    row = await (await conn.execute(Q.sync_user)).fetchone()
    if row is None:
        raise NotFound("The sync system user is missing; run the migrations.")
    return Principal(id=row["id"], email=row["email"], name=row["name"], role=Role.admin)
