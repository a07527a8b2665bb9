"""The admin section's entry: the console's "Admin" link for admins only, the index linking every admin page,
and the 403 page for agents and employees."""

from __future__ import annotations

import re

import httpx
import psycopg
from admin_support import signed_in

from api.auth.models import Role
from api.settings import Settings

ADMIN_PAGES = ["/console/admin/routing", "/console/admin/sla", "/console/admin/people", "/console/admin/people/tokens"]
OPERATIONS_PAGES = ["/console/admin/alerts", "/console/admin/kb", "/console/admin/workflows"]  # agents may read some


async def test_an_admin_finds_every_admin_page_from_the_console(
        web: httpx.AsyncClient, conn: psycopg.AsyncConnection, web_settings: Settings, make_actor) -> None:
    await signed_in(web, conn, web_settings, make_actor)
    console = await web.get("/console")
    assert '<a href="/console/admin">Admin</a>' in console.text
    index = await web.get("/console/admin")
    assert index.status_code == 200
    listed = re.findall(r'<li><a href="(/console/admin/[^"]+)">', index.text.split('<ul class="admin-index">')[1])
    assert listed == ADMIN_PAGES + OPERATIONS_PAGES
    for path in ADMIN_PAGES:
        page = await web.get(path)
        assert page.status_code == 200 and f'href="{path}" aria-current="page"' in page.text, path
    for path in OPERATIONS_PAGES:
        assert (await web.get(path)).status_code == 200, path


async def test_agents_and_employees_get_the_403_page(
        web: httpx.AsyncClient, conn: psycopg.AsyncConnection, web_settings: Settings, make_actor) -> None:
    await signed_in(web, conn, web_settings, make_actor, Role.agent)
    assert 'href="/console/admin"' not in (await web.get("/console")).text
    for path in ["/console/admin", *ADMIN_PAGES]:
        page = await web.get(path)
        assert page.status_code == 403 and page.headers["content-type"].startswith("text/html"), path
        assert "This needs the role admin; you are agent." in page.text
    await signed_in(web, conn, web_settings, make_actor, Role.employee)
    assert (await web.get("/console/admin")).status_code == 403
