"""People and teams: who am I, users, teams, skills."""

from __future__ import annotations

from fastapi import APIRouter, Query, status

from api.auth import service
from api.auth.deps import AdminUser, CurrentUser, StaffUser
from api.auth.models import Principal, Role, Skill, Team, TeamCreate, User, UserCreate
from api.db import ConnDep

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
