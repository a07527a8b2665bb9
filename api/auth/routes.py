"""People and teams: who am I, users, teams, skills; API tokens and deactivation (admins)."""

from __future__ import annotations

from fastapi import APIRouter, Query, status

from api.auth import service
from api.auth.deps import AdminUser, CurrentUser, StaffUser
from api.auth.models import (
    CreatedToken,
    Principal,
    Role,
    Skill,
    Team,
    TeamCreate,
    TokenCreate,
    TokenInfo,
    User,
    UserCreate,
)
from api.db import ConnDep
from api.deps import SettingsDep

router = APIRouter(tags=["people"])


@router.get("/me")
async def me(principal: CurrentUser) -> Principal:
    return principal


@router.get("/users")
async def list_users(
    conn: ConnDep, _: StaffUser, role: Role | None = None, team_id: int | None = None,
    limit: int = Query(100, ge=1, le=500),
) -> list[User]:
    return await service.list_users(conn, role=role, team_id=team_id, limit=limit)


@router.post("/users", status_code=status.HTTP_201_CREATED)
async def create_user(data: UserCreate, conn: ConnDep, _: AdminUser) -> User:
    return await service.create_user(conn, data=data)


@router.get("/users/{user_id}/skills")
async def list_skills(user_id: int, conn: ConnDep, _: StaffUser) -> list[Skill]:
    skills = await service.list_skills(conn, user_id=(await service.get_or_raise(conn, user_id=user_id)).id)
    return [Skill(skill=k, level=v) for k, v in skills.items()]


@router.put("/users/{user_id}/skills")
async def set_skill(user_id: int, data: Skill, conn: ConnDep, _: AdminUser) -> list[Skill]:
    await service.get_or_raise(conn, user_id=user_id)
    await service.set_skill(conn, user_id=user_id, skill=data.skill, level=data.level)
    return await list_skills(user_id, conn, _)


@router.get("/teams")
async def list_teams(conn: ConnDep, _: StaffUser) -> list[Team]:
    return await service.list_teams(conn)


@router.post("/teams", status_code=status.HTTP_201_CREATED)
async def create_team(data: TeamCreate, conn: ConnDep, _: AdminUser) -> Team:
    return await service.create_team(conn, data=data)


@router.put("/teams/{slug}/members/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
async def add_member(slug: str, user_id: int, conn: ConnDep, _: AdminUser) -> None:
    team = await service.get_team_by_slug(conn, slug=slug)
    await service.add_team_member(conn, team_id=team.id, user_id=(await service.get_or_raise(conn, user_id=user_id)).id)


@router.post("/users/{user_id}/deactivate")
async def deactivate_user(user_id: int, conn: ConnDep, _: AdminUser) -> User:
    """Deactivates a user and revokes their tokens; their tickets and history stay."""
    return await service.deactivate_user(conn, user_id=user_id)


@router.get("/tokens")
async def list_tokens(
    conn: ConnDep, _: AdminUser, user_id: int | None = None, include_inactive: bool = False,
    limit: int = Query(100, ge=1, le=1000),
) -> list[TokenInfo]:
    """API tokens, newest first: prefix, owner, expiry, last use (never the token)."""
    return await service.list_tokens(conn, user_id=user_id, live_only=not include_inactive, limit=limit)


@router.post("/tokens", status_code=status.HTTP_201_CREATED)
async def create_token(data: TokenCreate, conn: ConnDep, settings: SettingsDep, _: AdminUser) -> CreatedToken:
    """Issues a token for a user; the token is in this answer only."""
    return await service.issue_token(conn, settings, data=data)


@router.delete("/tokens/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_token(token_id: int, conn: ConnDep, _: AdminUser) -> None:
    await service.revoke_token(conn, token_id=token_id)
