"""Routing rules: ordered conditions → team (and optionally an agent or a skill). CRUD and the team lookup."""

from __future__ import annotations

from typing import Any

from psycopg.errors import UniqueViolation
from psycopg.types.json import Jsonb

from api import sql
from api.db import Conn
from api.errors import Conflict, NotFound, ValidationFailed
from api.routing.decide import Team
from api.routing.models import Rule, RuleIn

Q = sql.load("api.routing")


async def list_rules(conn: Conn, *, enabled_only: bool = False) -> list[Rule]:
    rows = await (await conn.execute(Q.list_rules, {"enabled_only": enabled_only})).fetchall()
    return [Rule(**r) for r in rows]


async def get_rule_or_raise(conn: Conn, *, rule_id: int) -> Rule:
    row = await (await conn.execute(Q.get_rule, {"id": rule_id})).fetchone()
    if row is None:
        raise NotFound(f"No routing rule {rule_id}.")
    return Rule(**row)


async def get_team(conn: Conn, *, slug: str) -> Team:
    """The team ``slug``; ValidationFailed when there is none."""
    row = await (await conn.execute(Q.team_by_slug, {"slug": slug})).fetchone()
    if row is None:
        raise ValidationFailed(f"Unknown team {slug!r}.")
    return Team(**row)


async def _rule_params(conn: Conn, data: RuleIn) -> dict[str, Any]:
    if data.agent_id is not None:
        agents = await (await conn.execute(Q.agents, {
            "team_id": None, "user_id": data.agent_id, "skill": None, "ticket_id": None})).fetchall()
        if not agents:
            raise ValidationFailed(f"User {data.agent_id} is not an active agent.")
    return data.model_dump(exclude={"team", "conditions"}) | {
        "team_id": (await get_team(conn, slug=data.team)).id,
        "conditions": Jsonb(data.conditions.model_dump(mode="json", exclude_defaults=True)),
    }


async def create_rule(conn: Conn, *, data: RuleIn) -> Rule:
    try:
        row = await (await conn.execute(Q.create_rule, await _rule_params(conn, data))).fetchone()
    except UniqueViolation as exc:
        raise Conflict(f"A routing rule named {data.name!r} already exists.") from exc
    return Rule(**row)  # type: ignore[arg-type]


async def update_rule(conn: Conn, *, rule_id: int, data: RuleIn) -> Rule:
    try:
        row = await (await conn.execute(Q.update_rule, await _rule_params(conn, data) | {"id": rule_id})).fetchone()
    except UniqueViolation as exc:
        raise Conflict(f"A routing rule named {data.name!r} already exists.") from exc
    if row is None:
        raise NotFound(f"No routing rule {rule_id}.")
    return Rule(**row)


async def delete_rule(conn: Conn, *, rule_id: int) -> None:
    if await (await conn.execute(Q.delete_rule, {"id": rule_id})).fetchone() is None:
        raise NotFound(f"No routing rule {rule_id}.")
