"""The people admin pages over a signed-in session: users with their roles and teams, creating and deactivating
a user, skills, teams and members, API tokens (issued with the token shown once, revoked), roles and CSRF."""

from __future__ import annotations

import html
import re

import httpx
import psycopg
from admin_support import field_error, field_value, signed_in, unique

from api.auth import service as people
from api.auth.models import Role
from api.settings import Settings

PAGE = "/console/admin/people"


async def _team_id(conn: psycopg.AsyncConnection, slug: str) -> int:
    return (await people.get_team_by_slug(conn, slug=slug)).id


async def _members(conn: psycopg.AsyncConnection, slug: str) -> list[int]:
    return next(t.member_ids for t in await people.list_teams(conn) if t.slug == slug)


async def test_the_users_of_a_team_are_listed_with_role_and_teams(
        web: httpx.AsyncClient, conn: psycopg.AsyncConnection, web_settings: Settings, make_actor, make_team) -> None:
    await signed_in(web, conn, web_settings, make_actor)
    first, second = await make_team(), await make_team()
    agent = await make_actor(Role.agent, teams=(first, second))
    page = await web.get(PAGE, params={"team": await _team_id(conn, first)})
    assert page.status_code == 200
    listed = re.findall(r'<tr data-user="(\d+)">', page.text)
    assert listed == [str(u.id) for u in await people.list_users(conn, team_id=await _team_id(conn, first))]
    row = re.search(rf'<tr data-user="{agent.user.id}">(.*?)</tr>', page.text, re.S)
    assert row and "<td>agent</td>" in row.group(1) and f"<td>{first}, {second}</td>" in row.group(1)


async def test_a_user_is_created_given_a_skill_and_deactivated_through_the_forms(
        web: httpx.AsyncClient, conn: psycopg.AsyncConnection, web_settings: Settings, make_actor, make_team) -> None:
    csrf = await signed_in(web, conn, web_settings, make_actor)
    team, email = await make_team(), f"{unique('new')}@example.com"
    created = await web.post(f"{PAGE}/users", data={
        "csrf_token": csrf, "email": email, "name": "Nora New", "role": "agent", "department": "IT",
        "capacity": "6", "team_slugs": [team]})
    assert created.status_code == 303 and created.headers["location"] == f"{PAGE}?done=created"
    user = await people.get_by_email(conn, email=email)
    assert user is not None and (user.name, user.role, user.department, user.capacity) == ("Nora New", Role.agent, "IT", 6)
    assert await _members(conn, team) == [user.id]

    skill = await web.post(f"{PAGE}/users/{user.id}/skills", data={"csrf_token": csrf, "skill": "vpn", "level": "4"})
    assert skill.status_code == 303 and await people.list_skills(conn, user_id=user.id) == {"vpn": 4}
    bad_skill = await web.post(f"{PAGE}/users/{user.id}/skills", data={"csrf_token": csrf, "skill": "VPN!", "level": "4"})
    assert bad_skill.status_code == 422 and field_value(bad_skill, "skill", "skill") == "VPN!"
    assert field_error(bad_skill, "skill", "skill").startswith("String should match pattern")

    deactivated = await web.post(f"{PAGE}/users/{user.id}/deactivate", data={"csrf_token": csrf})
    assert deactivated.status_code == 303 and not (await people.get_or_raise(conn, user_id=user.id)).active


async def test_a_bad_user_form_shows_the_fields_messages_and_keeps_the_input(
        web: httpx.AsyncClient, conn: psycopg.AsyncConnection, web_settings: Settings, make_actor, make_team) -> None:
    csrf = await signed_in(web, conn, web_settings, make_actor)
    team = await make_team()
    bad = await web.post(f"{PAGE}/users", data={"csrf_token": csrf, "email": "not-an-address", "name": "Kept Name",
                                                "role": "agent", "capacity": "5000", "team_slugs": [team]})
    assert bad.status_code == 422
    assert "not a valid email address" in field_error(bad, "user", "email")
    assert field_error(bad, "user", "capacity") == "Input should be less than or equal to 1000"
    assert field_value(bad, "user", "name") == "Kept Name" and field_value(bad, "user", "email") == "not-an-address"
    assert f'value="{team}" checked' in bad.text and '<option value="agent" selected>' in bad.text


async def test_a_team_is_created_and_given_a_member(
        web: httpx.AsyncClient, conn: psycopg.AsyncConnection, web_settings: Settings, make_actor) -> None:
    csrf = await signed_in(web, conn, web_settings, make_actor)
    slug, member = unique("desk-"), await make_actor(Role.agent)
    created = await web.post(f"{PAGE}/teams", data={"csrf_token": csrf, "slug": slug, "name": "Field desk"})
    assert created.status_code == 303
    assert (await people.get_team_by_slug(conn, slug=slug)).name == "Field desk"
    bad = await web.post(f"{PAGE}/teams", data={"csrf_token": csrf, "slug": "Bad Slug", "name": "Kept"})
    assert bad.status_code == 422 and field_error(bad, "team", "slug").startswith("String should match pattern")
    assert field_value(bad, "team", "name") == "Kept"

    added = await web.post(f"{PAGE}/teams/members", data={"csrf_token": csrf, "team": slug, "user_id": str(member.user.id)})
    assert added.status_code == 303
    assert await _members(conn, slug) == [member.user.id]
    nobody = await web.post(f"{PAGE}/teams/members", data={"csrf_token": csrf, "team": slug, "user_id": "abc"})
    assert nobody.status_code == 404 and field_value(nobody, "member", "user_id") == "abc"


async def test_a_token_is_shown_once_works_and_is_revoked(
        web: httpx.AsyncClient, client: httpx.AsyncClient, conn: psycopg.AsyncConnection, web_settings: Settings,
        make_actor) -> None:
    csrf = await signed_in(web, conn, web_settings, make_actor)
    owner = await make_actor(Role.agent)
    issued = await web.post(f"{PAGE}/tokens", data={"csrf_token": csrf, "user_id": str(owner.user.id),
                                                    "name": "monitoring", "expires_in_days": "30"})
    assert issued.status_code == 201
    found = re.search(r'<output id="new-token">([^<]+)</output>', issued.text)
    assert found, "the new token is not shown"
    token = html.unescape(found.group(1))
    me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json()["id"] == owner.user.id
    listed = await web.get(f"{PAGE}/tokens", params={"user": owner.user.id})
    assert token not in listed.text and "monitoring" in listed.text  # listed by prefix, never shown again
    info = next(t for t in await people.list_tokens(conn, user_id=owner.user.id) if t.name == "monitoring")
    assert f"<code>{info.prefix}</code>" in listed.text

    never = await web.post(f"{PAGE}/tokens", data={"csrf_token": csrf, "user_id": str(owner.user.id),
                                                   "never_expires": "true", "name": "kept"})
    assert never.status_code == 422 and "Only service tokens may never expire." in never.text
    assert field_value(never, "token", "name") == "kept"

    revoked = await web.post(f"{PAGE}/tokens/{info.id}/revoke", data={"csrf_token": csrf})
    assert revoked.status_code == 303
    assert (await people.get_token_or_raise(conn, token_id=info.id)).state == "revoked"
    assert (await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})).status_code == 401


async def test_agents_get_403_and_a_post_without_csrf_is_refused(
        web: httpx.AsyncClient, conn: psycopg.AsyncConnection, web_settings: Settings, make_actor) -> None:
    email = f"{unique('nope')}@example.com"
    body = {"email": email, "name": "Nope", "role": "admin"}
    await signed_in(web, conn, web_settings, make_actor)
    assert (await web.post(f"{PAGE}/users", data=body)).status_code == 403
    agent_csrf = await signed_in(web, conn, web_settings, make_actor, Role.agent)
    for path in (PAGE, f"{PAGE}/tokens", "/console/admin"):
        assert (await web.get(path)).status_code == 403, path
    assert (await web.post(f"{PAGE}/users", data=body | {"csrf_token": agent_csrf})).status_code == 403
    assert (await web.post(f"{PAGE}/tokens", data={"csrf_token": agent_csrf, "user_id": "1"})).status_code == 403
    assert await people.get_by_email(conn, email=email) is None
