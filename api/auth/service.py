"""Users, teams, skills and API tokens. Tokens are random, shown once and stored as SHA-256 hashes."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from psycopg import errors as pg

from api import sql
from api.auth.models import CreatedToken, Principal, Role, Team, TeamCreate, User, UserCreate
from api.db import Conn
from api.errors import Conflict, Forbidden, NotFound, Unauthorized, ValidationFailed

Q = sql.load("api.auth")
TOKEN_PREFIX = "dm_"


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def principal_for_token(conn: Conn, *, token: str) -> Principal:
    """The principal behind a bearer token; Unauthorized when it is unknown, revoked or expired."""
    row = await (await conn.execute(Q.principal_by_token_hash, {"token_hash": hash_token(token)})).fetchone()
    if row is None:
        raise Unauthorized("The API token is unknown, expired or revoked.")
    return Principal(**{**row, "team_ids": tuple(row["team_ids"])})


async def act_on_behalf(conn: Conn, *, service: Principal, email: str) -> Principal:
    """A service identity acting for one person: always with that person's employee rights."""
    if service.role is not Role.service:
        raise Forbidden("Only service tokens may use X-On-Behalf-Of.")
    row = await (await conn.execute(Q.principal_by_email, {"email": email})).fetchone()
    if row is None:
        raise Forbidden("X-On-Behalf-Of names no active user.")
    if row["role"] in (Role.admin, Role.service):
        raise Forbidden("A service may not act on behalf of an admin or another service.")
    return Principal(**{**row, "role": Role.employee, "team_ids": (), "via_service_id": service.id})


async def principal_by_id(conn: Conn, *, user_id: int) -> Principal:
    """The principal for an active user id (used when the api acts for a channel's user)."""
    row = await (await conn.execute(Q.principal_by_id, {"id": user_id})).fetchone()
    if row is None:
        raise Forbidden("That user is no longer active.")
    return Principal(**{**row, "team_ids": tuple(row["team_ids"])})


async def get_or_raise(conn: Conn, *, user_id: int) -> User:
    row = await (await conn.execute(Q.get_user, {"id": user_id})).fetchone()
    if row is None:
        raise NotFound(f"No user with id {user_id}.")
    return User(**row)


async def set_phone(conn: Conn, *, user_id: int, phone: str | None) -> None:
    """Sets or removes the user's phone number (E.164, checked by the caller's model); NotFound for no such user."""
    if await (await conn.execute(Q.set_phone, {"user_id": user_id, "phone": phone})).fetchone() is None:
        raise NotFound(f"No user with id {user_id}.")


async def get_by_email(conn: Conn, *, email: str) -> User | None:
    row = await (await conn.execute(Q.get_user_by_email, {"email": email})).fetchone()
    return User(**row) if row else None


async def list_users(
    conn: Conn, *, role: Role | None = None, team_id: int | None = None, limit: int = 100
) -> list[User]:
    cur = await conn.execute(Q.list_users, {"role": role, "team_id": team_id, "limit": limit})
    return [User(**r) for r in await cur.fetchall()]


async def create_user(conn: Conn, *, data: UserCreate) -> User:
    """Creates a user with their teams and skills, in one transaction."""
    async with conn.transaction():
        try:
            row = await (await conn.execute(Q.create_user, data.model_dump(exclude={"team_slugs", "skills"}))).fetchone()
        except pg.UniqueViolation as exc:
            raise Conflict(f"A user with e-mail {data.email} already exists.") from exc
        assert row is not None
        user = User(**row)
        for slug in data.team_slugs:
            team = await get_team_by_slug(conn, slug=slug)
            await conn.execute(Q.add_team_member, {"team_id": team.id, "user_id": user.id})
        for skill, level in data.skills.items():
            await set_skill(conn, user_id=user.id, skill=skill, level=level)
    return user


async def set_skill(conn: Conn, *, user_id: int, skill: str, level: int) -> None:
    if not 1 <= level <= 5:
        raise ValidationFailed(f"Skill level for {skill!r} must be 1-5, not {level}.")
    await conn.execute(Q.set_skill, {"user_id": user_id, "skill": skill, "level": level})


async def list_skills(conn: Conn, *, user_id: int) -> dict[str, int]:
    rows = await (await conn.execute(Q.list_skills, {"user_id": user_id})).fetchall()
    return {r["skill"]: r["level"] for r in rows}


async def list_teams(conn: Conn) -> list[Team]:
    return [Team(**r) for r in await (await conn.execute(Q.list_teams)).fetchall()]


async def get_team_by_slug(conn: Conn, *, slug: str) -> Team:
    row = await (await conn.execute(Q.get_team_by_slug, {"slug": slug})).fetchone()
    if row is None:
        raise NotFound(f"No team with slug {slug!r}.")
    return Team(**row)


async def create_team(conn: Conn, *, data: TeamCreate) -> Team:
    try:
        row = await (await conn.execute(Q.create_team, data.model_dump())).fetchone()
    except pg.UniqueViolation as exc:
        raise Conflict(f"A team with slug {data.slug!r} already exists.") from exc
    return Team(**row)  # type: ignore[arg-type]


async def add_team_member(conn: Conn, *, team_id: int, user_id: int) -> None:
    await conn.execute(Q.add_team_member, {"team_id": team_id, "user_id": user_id})


async def create_token(
    conn: Conn, *, user: User, name: str = "", expires_at: datetime | None = None
) -> CreatedToken:
    """Issues a token for ``user``; the plain token exists only in the return value."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    prefix = token[: len(TOKEN_PREFIX) + 6]
    await conn.execute(
        Q.create_token,
        {"user_id": user.id, "token_hash": hash_token(token), "prefix": prefix, "name": name, "expires_at": expires_at},
    )
    return CreatedToken(token=token, prefix=prefix, user=user)


async def ensure_user_with_token(conn: Conn, *, email: str, role: Role, name: str = "") -> CreatedToken:
    """Creates the user when missing, then a token for them (``deskmate token create``)."""
    user = await get_by_email(conn, email=email)
    if user is None:
        user = await create_user(conn, data=UserCreate(email=email, name=name or email.split("@")[0], role=role))
    elif user.role is not role:
        raise Conflict(f"{email} exists with role {user.role}, not {role}.")
    return await create_token(conn, user=user, name=name or f"{role} token")


async def revoke_tokens(conn: Conn, *, user_id: int, prefix: str | None = None) -> int:
    rows = await (await conn.execute(Q.revoke_tokens, {"user_id": user_id, "prefix": prefix})).fetchall()
    return len(rows)
