"""Demo data is seeded once: demo tokens only with the org and never in production (file mode 0600), the demo
KB never re-ingested over an admin's changes; the demo page signs a visitor in only from loopback."""

from __future__ import annotations

import stat
import uuid

import httpx
import psycopg
import pytest
from kb import support
from psycopg.rows import dict_row

import kb_index
from api import migrate
from api.dev import demo, embedded_pg
from api.settings import REPO_ROOT, Settings

ORG = REPO_ROOT / "data" / "demo" / "org.yml"
SIGNED = 'data-deskmate-identity="ey'  # a JWT in the widget tag (the page's code sample shows "…")


@pytest.fixture
async def fresh_conn(pg_server):
    name = f"deskmate_seed_{uuid.uuid4().hex[:8]}"
    embedded_pg.ensure_database(pg_server, name)
    url = pg_server.replace("/postgres?", f"/{name}?")
    migrate.migrate(url, REPO_ROOT / "migrations")
    async with await psycopg.AsyncConnection.connect(url, autocommit=True, row_factory=dict_row) as conn:
        yield conn
    embedded_pg.drop_database(pg_server, name)


async def test_production_seeds_no_demo_tokens(fresh_conn, tmp_path):
    settings = Settings(env="production", secret_key="p" * 40, database_url="postgresql://unused/x",
                        assertion_key="a" * 40, rasa_channel_secret="c" * 40, actions_secret="s" * 40,
                        data_dir=tmp_path, _env_file=None)  # type: ignore[call-arg]
    assert await demo.seed(fresh_conn, path=ORG, tokens_file=tmp_path / "demo-tokens.env", settings=settings)
    assert not (tmp_path / "demo-tokens.env").exists()
    count = await (await fresh_conn.execute("SELECT count(*) AS n FROM api_tokens")).fetchone()
    assert count["n"] == 0


async def test_demo_tokens_come_with_the_org_only_private_and_expiring(fresh_conn, tmp_path):
    settings = Settings(env="development", data_dir=tmp_path, _env_file=None)  # type: ignore[call-arg]
    tokens_file = tmp_path / "demo-tokens.env"
    assert await demo.seed(fresh_conn, path=ORG, tokens_file=tokens_file, settings=settings)
    assert stat.S_IMODE(tokens_file.stat().st_mode) == 0o600
    first = tokens_file.read_text()
    assert "DESKMATE_TOKEN_ADMIN=dm_" in first
    rows = await (await fresh_conn.execute("SELECT expires_at FROM api_tokens WHERE name = 'demo'")).fetchall()
    assert rows and all(r["expires_at"] is not None for r in rows)
    assert not await demo.seed(fresh_conn, path=ORG, tokens_file=tokens_file, settings=settings)
    assert tokens_file.read_text() == first  # a second start makes no new tokens


async def test_demo_kb_is_seeded_once_and_admin_changes_survive_restarts(conn, tmp_path):
    await kb_index.register(conn)
    marker = uuid.uuid4().hex[:8]
    kb_dir = tmp_path / "kb"
    kb_dir.mkdir()
    for n in (1, 2):
        (kb_dir / f"a{n}.md").write_text(f"---\nid: seed-{marker}-{n}\n---\n# Kiosk {marker} {n}\n\n"
                                         f"Restart kiosk {marker} number {n} with the red switch.\n")
    await conn.execute("DELETE FROM dev_seeds WHERE name = %s", (demo.KB_SEED,))
    first = await demo.seed_kb(conn, kb_dir=kb_dir, embedder=support.embedder())
    assert first is not None and first.counts()["new"] == 2
    # an admin deletes one demo article and edits the other; then the stack restarts
    await conn.execute("DELETE FROM kb_articles WHERE id = %s", (f"seed-{marker}-1",))
    await conn.execute("UPDATE kb_articles SET title = 'Edited by an admin' WHERE id = %s", (f"seed-{marker}-2",))
    assert await demo.seed_kb(conn, kb_dir=kb_dir, embedder=support.embedder()) is None
    rows = await (await conn.execute("SELECT id, title FROM kb_articles WHERE id LIKE %s ORDER BY id",
                                     (f"seed-{marker}-%",))).fetchall()
    assert [(r["id"], r["title"]) for r in rows] == [(f"seed-{marker}-2", "Edited by an admin")]


async def _demo_page(app, client_host: str) -> str:
    transport = httpx.ASGITransport(app=app, client=(client_host, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        r = await c.get("/")
    assert r.status_code == 200
    return r.text


async def test_demo_page_signs_in_loopback_visitors_only(app, running_app, make_actor):
    asgi = running_app[1]
    local = await _demo_page(asgi, "127.0.0.1")
    assert SIGNED in local and "loopback" in local and "Signed in as" in local
    assert SIGNED in await _demo_page(asgi, "::1")
    remote = await _demo_page(asgi, "203.0.113.7")
    assert SIGNED not in remote and "Not signed in" in remote
    assert "demo sign-in is offered only to a browser" in remote
    lan = await _demo_page(asgi, "10.1.2.3")
    assert SIGNED not in lan


async def test_demo_page_never_signs_in_production(app, running_app, settings):
    app.state.settings = settings.model_copy(update={"env": "production"})
    try:
        page = await _demo_page(running_app[1], "127.0.0.1")
    finally:
        app.state.settings = settings
    assert SIGNED not in page and "Development demo" not in page
