"""Connector instances: create, read, change, delete; secrets encrypted at rest (api/crypto.py), never shown."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from psycopg.errors import UniqueViolation
from psycopg.types.json import Jsonb
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from api import crypto, idempotency, sql
from api.auth.models import Principal, Role
from api.db import Conn
from api.errors import Conflict, NotFound, OutboundRefused, ValidationFailed
from api.integrations.glpi import webhooks
from api.integrations.glpi.mapping import GlpiConfig
from api.integrations.outbound import OutboundGuard
from api.integrations.solman.mapping import SolmanSyncConfig
from api.integrations.sync.models import SECRETS as ALL_SECRETS  # each in a ``<name>_encrypted`` column
from api.integrations.sync.models import (
    Connector,
    ConnectorIn,
    ConnectorPatch,
    SolmanConnectorIn,
    missing_credentials,
)
from api.settings import Settings

Q = sql.load("api.integrations.sync")
C = TypeVar("C", bound=BaseModel)
# Each kind's settings (the connector's ``config``) and the secrets it takes (``<secret>_encrypted`` columns).
CONFIGS: dict[str, type[BaseModel]] = {"glpi": GlpiConfig, "solman": SolmanSyncConfig}
# GLPI: the legacy API's tokens, or the HL API's OAuth client secret and password (config.api)
SECRETS = {"glpi": ALL_SECRETS, "solman": ("password", "client_secret")}


@dataclass(frozen=True)
class Runtime(Generic[C]):
    """A connector with its secrets decrypted, for the engine (never returned by the API). ``config`` is its
    kind's settings (``CONFIGS``); the secrets a kind does not take are empty."""

    id: int
    name: str
    kind: str
    base_url: str
    config: C
    enabled: bool
    inbound_cursor: str | None
    user_token: str = field(repr=False)
    app_token: str | None = field(repr=False)
    password: str | None = field(default=None, repr=False)
    client_secret: str | None = field(default=None, repr=False)
    created_at: datetime | None = None


def config_of(kind: str, raw: dict[str, Any]) -> BaseModel:
    """A kind's config from its stored (or given) JSON; ValidationFailed when it does not fit."""
    try:
        return CONFIGS[kind].model_validate(raw)
    except PydanticValidationError as exc:
        raise ValidationFailed(f"Invalid {kind} config: {exc.errors(include_url=False)}") from exc


def _public(row: dict[str, Any]) -> Connector:
    has: dict[str, Any] = {f"has_{s}": row[f"{s}_encrypted"] is not None for s in (*ALL_SECRETS, "webhook_secret")}
    return Connector(**row | has | {"config": config_of(row["kind"], row["config"])})


def _check_credentials(config: BaseModel, row: dict[str, Any]) -> None:
    """A GLPI connector has the secrets its API needs (the legacy API's token, or the HL API's OAuth ones)."""
    if not isinstance(config, GlpiConfig):
        return
    missing = missing_credentials(config, secrets={s for s in SECRETS["glpi"] if row.get(f"{s}_encrypted")})
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


async def create(conn: Conn, *, data: ConnectorIn | SolmanConnectorIn, settings: Settings, actor_id: int,
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


async def _insert(conn: Conn, *, data: ConnectorIn | SolmanConnectorIn, settings: Settings) -> Connector:
    params = data.model_dump(mode="json", include={"name", "kind", "base_url", "enabled"}) | {
        "config": Jsonb(data.config.model_dump(mode="json"))} | {
        f"{s}_encrypted": _encrypted(settings, getattr(data, s, None)) for s in ALL_SECRETS}
    try:
        row = await (await conn.execute(Q.create_connector, params)).fetchone()
    except UniqueViolation as exc:
        raise Conflict(f"A sync connector named {data.name!r} exists already.") from exc
    assert row is not None
    if (secret := getattr(data, "webhook_secret", None)) is not None:
        row = await webhooks.set_secret(conn, connector_id=row["id"], encrypted=_encrypted(settings, secret))
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
        config = config_of(row["kind"], data.config if data.config is not None else row["config"])
        params = row | {k: v for k, v in given.items() if k in ("base_url", "enabled") and v is not None} | {
            "config": Jsonb(config.model_dump(mode="json"))}
        for secret in ALL_SECRETS:
            if secret in given and secret not in SECRETS[row["kind"]]:
                raise ValidationFailed(f"A {row['kind']} connector takes {' and '.join(SECRETS[row['kind']])}, "
                                       f"not {secret}.")
            if secret in given:
                params[f"{secret}_encrypted"] = _encrypted(settings, getattr(data, secret))
        updated = await (await conn.execute(Q.update_connector, params)).fetchone()
        assert updated is not None
        _check_credentials(config, dict(updated))
        if "webhook_secret" in given:
            updated = await webhooks.set_secret(conn, connector_id=row["id"],
                                                encrypted=_encrypted(settings, data.webhook_secret))
    return _public(updated)


async def delete(conn: Conn, *, name: str) -> None:
    if await (await conn.execute(Q.delete_connector, {"name": name})).fetchone() is None:
        raise NotFound(f"No sync connector {name!r}.")


async def runtime(conn: Conn, settings: Settings, *, connector_id: int | None = None,
                  name: str | None = None) -> Runtime[Any]:
    """The connector with its secrets, for the engine."""
    row = await (await conn.execute(Q.get_connector, {"name": name, "id": connector_id})).fetchone()
    if row is None:
        raise NotFound(f"No sync connector {name or connector_id!r}.")
    secrets: dict[str, Any] = {s: crypto.decrypt(settings, row[f"{s}_encrypted"]) if row[f"{s}_encrypted"] else None
               for s in ALL_SECRETS}
    return Runtime(id=row["id"], name=row["name"], kind=row["kind"], base_url=row["base_url"],
                   config=config_of(row["kind"], row["config"]), enabled=row["enabled"],
                   inbound_cursor=row["inbound_cursor"], created_at=row["created_at"],
                   **secrets | {"user_token": secrets["user_token"] or ""})


async def enabled(conn: Conn) -> list[dict[str, Any]]:
    """The enabled connectors (id, name, config), for the outbox and the poll."""
    return [dict(r) for r in await (await conn.execute(Q.list_connectors, {"enabled_only": True})).fetchall()]


async def principal(conn: Conn) -> Principal:
    """The sync system actor, with admin rights inside the process (it has no token)."""
    row = await (await conn.execute(Q.sync_user)).fetchone()
    if row is None:
        raise NotFound("The sync system user is missing; run the migrations.")
    return Principal(id=row["id"], email=row["email"], name=row["name"], role=Role.admin)
