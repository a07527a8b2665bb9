"""Users, teams, skills and API tokens. Tokens are random, shown once and stored as SHA-256 hashes.

Lifecycle (docs/security.md): a token expires (people: ``DESKMATE_TOKEN_EXPIRY_DAYS``, 90 days by default;
service tokens: ``DESKMATE_SERVICE_TOKEN_EXPIRY_DAYS``, never by default), can be revoked, and records when
it was last used. Deactivating a user revokes their tokens and keeps their tickets.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from psycopg import errors as pg

from api import sql
from api.auth.models import CreatedToken, Principal, Role, Team, TeamCreate, TokenCreate, TokenInfo, User, UserCreate
from api.db import Conn
from api.errors import Conflict, Forbidden, NotFound, Unauthorized, ValidationFailed
from api.settings import Settings

Q = sql.load("api.auth")
TOKEN_PREFIX = "dm_"


class TokenExpired(Unauthorized):
    type, title = "/problems/token-expired", "The API token has expired"


class TokenRevoked(Unauthorized):
    type, title = "/problems/token-revoked", "The API token was revoked"


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def principal_for_token(conn: Conn, *, token: str) -> Principal:
    """The principal behind a bearer token (and marks the token used); Unauthorized when it is unknown,
    revoked or expired, or its user is deactivated."""
    row = await (await conn.execute(Q.principal_by_token_hash, {"token_hash": hash_token(token)})).fetchone()
    if row is None:
        raise Unauthorized("The API token is unknown.")
    if row["revoked_at"] is not None:
        raise TokenRevoked(f"The API token was revoked on {row['revoked_at']:%Y-%m-%d}; ask an admin for a new one.")
    if row["expired"]:
        raise TokenExpired(f"The API token expired on {row['expires_at']:%Y-%m-%d %H:%M %Z}; "
                           "ask an admin for a new one (deskmate token create).")
    if not row["active"]:
        raise Unauthorized("The account behind this API token is deactivated.")
    return principal_from_row(row)


def principal_from_row(row: dict[str, object]) -> Principal:
    """A principal from a row of the principal_by_* queries (id, email, name, role, department, vip, team_ids)."""
    fields = ("id", "email", "name", "role", "department", "vip")
    return Principal(**{k: row[k] for k in fields}, team_ids=tuple(row["team_ids"]))  # type: ignore[arg-type]


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
    return principal_from_row(row)


async def get_or_raise(conn: Conn, *, user_id: int) -> User:
    row = await (await conn.execute(Q.get_user, {"id": user_id})).fetchone()
    if row is None:
        raise NotFound(f"No user with id {user_id}.")
    return User(**row)


async def set_phone(conn: Conn, *, user_id: int, phone: str | None) -> None:
    """Sets or removes the user's phone number (E.164, checked by the caller's model); NotFound for no such user."""
    if await (await conn.execute(Q.set_phone, {"user_id": user_id, "phone": phone})).fetchone() is None:
        raise NotFound(f"No user with id {user_id}.")


async def names(conn: Conn, *, user_ids: Iterable[int]) -> dict[int, str]:
    """The names of these users by id, in one query (pages listing people's tickets)."""
    rows = await (await conn.execute(Q.user_names, {"ids": sorted(set(user_ids))})).fetchall()
    return {int(r["id"]): str(r["name"]) for r in rows}


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


def default_expiry(settings: Settings, role: Role, *, now: datetime | None = None) -> datetime | None:
    """When a new token of a user with ``role`` expires by default; None: never."""
    days = settings.service_token_expiry_days if role is Role.service else settings.token_expiry_days
    return (now or datetime.now(UTC)) + timedelta(days=days) if days else None


async def create_token(
    conn: Conn, *, user: User, name: str = "", expires_at: datetime | None = None
) -> CreatedToken:
    """Issues a token for ``user``; the plain token exists only in the return value."""
    if not user.active:
        raise Conflict(f"{user.email} is deactivated; reactivate them before issuing a token.")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    prefix = token[: len(TOKEN_PREFIX) + 6]
    row = await (await conn.execute(
        Q.create_token,
        {"user_id": user.id, "token_hash": hash_token(token), "prefix": prefix, "name": name, "expires_at": expires_at},
    )).fetchone()
    assert row is not None
    return CreatedToken(token=token, prefix=prefix, user=user, id=row["id"], expires_at=expires_at)


async def issue_token(conn: Conn, settings: Settings, *, data: TokenCreate) -> CreatedToken:
    """An admin issuing a token for an existing, active user; the lifetime defaults by role."""
    user = await get_or_raise(conn, user_id=data.user_id)
    if data.never_expires and user.role is not Role.service:
        raise ValidationFailed("Only service tokens may never expire.")
    if data.never_expires:
        expires_at = None
    elif data.expires_in_days is not None:
        expires_at = datetime.now(UTC) + timedelta(days=data.expires_in_days)
    else:
        expires_at = default_expiry(settings, user.role)
    return await create_token(conn, user=user, name=data.name, expires_at=expires_at)


async def ensure_user_with_token(
    conn: Conn, *, email: str, role: Role, name: str = "", expires_at: datetime | None = None
) -> CreatedToken:
    """Creates the user when missing, then a token for them (``deskmate token create``)."""
    user = await get_by_email(conn, email=email)
    if user is None:
        user = await create_user(conn, data=UserCreate(email=email, name=name or email.split("@")[0], role=role))
    elif user.role is not role:
        raise Conflict(f"{email} exists with role {user.role}, not {role}.")
    return await create_token(conn, user=user, name=name or f"{role} token", expires_at=expires_at)


async def revoke_tokens(conn: Conn, *, user_id: int, prefix: str | None = None) -> int:
    rows = await (await conn.execute(Q.revoke_tokens, {"user_id": user_id, "prefix": prefix})).fetchall()
    return len(rows)


async def revoke_token(conn: Conn, *, token_id: int | None = None, prefix: str | None = None) -> TokenInfo:
    """Revokes one token, named by id or by its printed prefix (``dm_abc123``); NotFound when none matches."""
    if (token_id is None) == (prefix is None):
        raise ValidationFailed("Name the token by its id or by its prefix, not both.")
    try:
        row = await (await conn.execute(Q.revoke_token, {"id": token_id, "prefix": prefix})).fetchone()
    except pg.CardinalityViolation as exc:
        raise Conflict(f"The prefix {prefix} names several tokens; revoke by id (deskmate token list).") from exc
    if row is None:
        raise NotFound(f"No token {token_id if token_id is not None else prefix}.")
    return await get_token_or_raise(conn, token_id=row["id"])


async def get_token_or_raise(conn: Conn, *, token_id: int) -> TokenInfo:
    row = await (await conn.execute(Q.get_token, {"id": token_id})).fetchone()
    if row is None:
        raise NotFound(f"No token with id {token_id}.")
    return TokenInfo(**row)


async def list_tokens(
    conn: Conn, *, user_id: int | None = None, live_only: bool = False, limit: int = 100
) -> list[TokenInfo]:
    """Tokens, newest first (prefix, owner, expiry, last use, revocation; never the token)."""
    rows = await (await conn.execute(
        Q.list_tokens, {"user_id": user_id, "live_only": live_only, "limit": limit})).fetchall()
    return [TokenInfo(**r) for r in rows]


async def deactivate_user(conn: Conn, *, user_id: int) -> User:
    """Deactivates a user and revokes their tokens, in one transaction; their tickets stay as they are."""
    async with conn.transaction():
        row = await (await conn.execute(Q.deactivate_user, {"id": user_id})).fetchone()
        if row is None:
            raise NotFound(f"No user with id {user_id}.")
        await revoke_tokens(conn, user_id=user_id)
    return User(**row)
