"""``/console/admin/people``: users (list by role or team, create, deactivate, skills), teams (list, create, add a
member) and API tokens (list, issue with the token shown once, revoke); validated by the API's models."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from api.auth import service as people
from api.auth.deps import AdminUser
from api.auth.models import Principal, Role, Skill, TeamCreate, TokenCreate, UserCreate
from api.db import Conn, ConnDep
from api.deps import SettingsDep
from api.web.admin.forms import Refusal, attempt, back_to, optional
from api.web.pages import render

PAGE = "/console/admin/people"
TOKENS = f"{PAGE}/tokens"
router = APIRouter(prefix=PAGE, tags=["web"], include_in_schema=False)
DONE = {"created": "User created.", "deactivated": "User deactivated; their tokens are revoked.",
        "team": "Team created.", "member": "Member added.", "skill": "Skill saved.", "revoked": "Token revoked."}
LIMIT = 200
NEW_USER = {"role": Role.employee.value, "capacity": "10"}


def _user_data(form: FormData) -> dict[str, Any]:
    """The form as the body of POST /users (UserCreate)."""
    data = {key: form.get(key, "") for key in ("email", "name", "role", "capacity")}
    return data | {"department": optional(form.get("department")), "vip": form.get("vip") == "true",
                   "team_slugs": form.getlist("team_slugs")}


def _values(form: FormData) -> dict[str, Any]:
    return {key: form.get(key) for key in form} | {"team_slugs": form.getlist("team_slugs")}


def _user_id(text: Any) -> int:
    """A user id typed in a form; 0 (nobody) when it is not a number, so the service says there is no such user."""
    return int(text) if str(text or "").strip().isdigit() else 0


async def _context(conn: Conn, principal: Principal, *, role: Role | None, team: int | None, **page: Any) -> dict[str, Any]:
    teams = await people.list_teams(conn)
    member_of: dict[int, list[str]] = {}
    for t in teams:
        for user_id in t.member_ids:
            member_of.setdefault(user_id, []).append(t.slug)
    return {"principal": principal, "users": await people.list_users(conn, role=role, team_id=team, limit=LIMIT),
            "teams": teams, "member_of": member_of, "roles": list(Role), "role": role, "team": team,
            "values": NEW_USER, "errors": {}, "team_values": {}, "team_errors": {}, "member_values": {},
            "member_errors": {}} | page


def _filters(role: str, team: str) -> tuple[Role | None, int | None]:
    return (Role(role) if role in Role.__members__ else None), (int(team) if team.isdigit() else None)


@router.get("")
async def people_page(request: Request, conn: ConnDep, principal: AdminUser, role: str = "", team: str = "",
                      done: str | None = None) -> Response:
    """Users (of a role or team) with their teams, and teams with their members; the forms to add both."""
    selected_role, selected_team = _filters(role, team)
    context = await _context(conn, principal, role=selected_role, team=selected_team)
    return render(request, "admin/people.html", context | {"done": DONE.get(done or "")})


async def _refused(request: Request, conn: Conn, principal: Principal, result: Refusal, **page: Any) -> Response:
    context = await _context(conn, principal, role=None, team=None, error=result.summary, **page)
    return render(request, "admin/people.html", context, status_code=result.status)


@router.post("/users")
async def create_user(request: Request, conn: ConnDep, principal: AdminUser) -> Response:
    form = await request.form()
    result = await attempt(lambda: people.create_user(conn, data=UserCreate.model_validate(_user_data(form))))
    if isinstance(result, Refusal):
        return await _refused(request, conn, principal, result, values=_values(form), errors=result.errors)
    return back_to(PAGE, "created")


@router.post("/users/{user_id}/deactivate")
async def deactivate_user(user_id: int, conn: ConnDep, _: AdminUser) -> Response:
    """Deactivates the user and revokes their tokens (POST /users/{id}/deactivate)."""
    await people.deactivate_user(conn, user_id=user_id)
    return back_to(PAGE, "deactivated")


@router.post("/teams")
async def create_team(request: Request, conn: ConnDep, principal: AdminUser) -> Response:
    form = await request.form()
    data = {"slug": form.get("slug", ""), "name": form.get("name", ""), "email": optional(form.get("email"))}
    result = await attempt(lambda: people.create_team(conn, data=TeamCreate.model_validate(data)))
    if isinstance(result, Refusal):
        return await _refused(request, conn, principal, result, team_values=dict(form), team_errors=result.errors)
    return back_to(PAGE, "team")


@router.post("/teams/members")
async def add_member(request: Request, conn: ConnDep, principal: AdminUser) -> Response:
    """Adds a user to a team (PUT /teams/{slug}/members/{user_id})."""
    form = await request.form()

    async def change() -> None:
        team = await people.get_team_by_slug(conn, slug=str(form.get("team", "")))
        user = await people.get_or_raise(conn, user_id=_user_id(form.get("user_id")))
        await people.add_team_member(conn, team_id=team.id, user_id=user.id)
    result = await attempt(change)
    if isinstance(result, Refusal):
        return await _refused(request, conn, principal, result, member_values=dict(form))
    return back_to(PAGE, "member")


async def _user_page(request: Request, conn: Conn, principal: Principal, user_id: int, *, status: int = 200,
                     **page: Any) -> Response:
    user = await people.get_or_raise(conn, user_id=user_id)
    teams = [t for t in await people.list_teams(conn) if user.id in t.member_ids]
    context = {"principal": principal, "user": user, "teams": teams, "values": {"level": "3"}, "errors": {},
               "skills": await people.list_skills(conn, user_id=user.id)} | page
    return render(request, "admin/user.html", context, status_code=status)


@router.get("/users/{user_id}")
async def user_page(user_id: int, request: Request, conn: ConnDep, principal: AdminUser,
                    done: str | None = None) -> Response:
    """A user: role, teams, skills, and the form that sets a skill's level."""
    return await _user_page(request, conn, principal, user_id, done=DONE.get(done or ""))


@router.post("/users/{user_id}/skills")
async def set_skill(user_id: int, request: Request, conn: ConnDep, principal: AdminUser) -> Response:
    """Sets one skill's level (PUT /users/{id}/skills)."""
    user, form = await people.get_or_raise(conn, user_id=user_id), await request.form()

    async def change() -> None:
        skill = Skill.model_validate({"skill": form.get("skill", ""), "level": form.get("level", "")})
        await people.set_skill(conn, user_id=user.id, skill=skill.skill, level=skill.level)
    result = await attempt(change)
    if isinstance(result, Refusal):
        return await _user_page(request, conn, principal, user_id, values=dict(form), errors=result.errors,
                                error=result.summary, status=result.status)
    return back_to(f"{PAGE}/users/{user_id}", "skill")


async def _tokens_page(request: Request, conn: Conn, principal: Principal, *, user: int | None = None,
                       inactive: bool = False, status: int = 200, **page: Any) -> Response:
    tokens = await people.list_tokens(conn, user_id=user, live_only=not inactive, limit=LIMIT)
    context = {"principal": principal, "tokens": tokens, "user": user, "inactive": inactive,
               "values": {}, "errors": {}} | page
    return render(request, "admin/tokens.html", context, status_code=status)


@router.get("/tokens")
async def tokens_page(request: Request, conn: ConnDep, principal: AdminUser, user: str = "", inactive: bool = False,
                      done: str | None = None) -> Response:
    """API tokens, newest first: prefix, owner, expiry, last use; never the token itself."""
    return await _tokens_page(request, conn, principal, user=int(user) if user.isdigit() else None, inactive=inactive,
                              done=DONE.get(done or ""))


@router.post("/tokens")
async def create_token(request: Request, conn: ConnDep, settings: SettingsDep, principal: AdminUser) -> Response:
    """Issues a token and shows it on this answer only: it is stored as a hash and cannot be shown again."""
    form = await request.form()
    data = {"user_id": form.get("user_id", ""), "name": form.get("name", ""),
            "never_expires": form.get("never_expires") == "true"} | (
        {"expires_in_days": days} if (days := optional(form.get("expires_in_days"))) else {})
    result = await attempt(lambda: people.issue_token(conn, settings, data=TokenCreate.model_validate(data)))
    if isinstance(result, Refusal):
        return await _tokens_page(request, conn, principal, values=dict(form), errors=result.errors,
                                  error=result.summary, status=result.status)
    return await _tokens_page(request, conn, principal, user=result.user.id, created=result, status=201)


@router.post("/tokens/{token_id}/revoke")
async def revoke_token(token_id: int, conn: ConnDep, _: AdminUser) -> Response:
    await people.revoke_token(conn, token_id=token_id)
    return back_to(TOKENS, "revoked")
