"""Retention: old rows go in batches, open tickets keep theirs, a dry run only counts, the worker runs it hourly."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from typer.testing import CliRunner

from api import cli, jobs, retention
from api.auth.models import Role
from api.jobs import registry
from api.settings import get_settings

OLD = "now() - interval '400 days'"


async def _ticket(client, actor, status: str | None = None) -> dict:
    ticket = (await client.post("/api/v1/tickets", json={"title": f"retention {uuid.uuid4().hex[:6]}"},
                                headers=actor.headers)).json()
    if status:
        r = await client.post(f"/api/v1/tickets/{ticket['id']}/transition", json={"status": status},
                              headers=actor.headers)
        assert r.status_code == 200, r.text
    return ticket


async def _conversation(conn, *, ticket: dict | None = None, old: bool = True) -> str:
    conv = str(uuid.uuid4())
    await conn.execute("INSERT INTO chat_conversations (id, channel) VALUES (%s, 'web')", (conv,))
    for text in ("hello", "my laptop"):
        await conn.execute("INSERT INTO chat_messages (conversation_id, direction, text, ticket_id) "
                           "VALUES (%s, 'user', %s, %s)", (conv, text, ticket["id"] if ticket else None))
    if old:
        await conn.execute(f"UPDATE chat_conversations SET last_message_at = {OLD} WHERE id = %s", (conv,))
        await conn.execute(f"UPDATE chat_messages SET created_at = {OLD} WHERE conversation_id = %s", (conv,))
    return conv


async def _firing(conn, ticket: dict, delivery_status: str) -> int:
    rule = await (await conn.execute(
        "INSERT INTO alert_rules (name, events, channels) VALUES (%s, '{created}', '[]') RETURNING id",
        (f"retention {uuid.uuid4().hex}",))).fetchone()
    event = await (await conn.execute("SELECT id FROM ticket_events WHERE ticket_id = %s LIMIT 1",
                                      (ticket["id"],))).fetchone()
    firing = await (await conn.execute(
        f"INSERT INTO alert_firings (rule_id, ticket_id, event_id, event_kind, dedup_key, status, created_at) "
        f"VALUES (%s, %s, %s, 'created', 'k', 'fired', {OLD}) RETURNING id",
        (rule["id"], ticket["id"], event["id"]))).fetchone()
    await conn.execute(
        "INSERT INTO alert_deliveries (firing_id, rule_id, ticket_id, channel, recipient, body, idempotency_key, "
        "status) VALUES (%s, %s, %s, 'IN_APP', 'x', 'b', %s, %s)",
        (firing["id"], rule["id"], ticket["id"], uuid.uuid4().hex, delivery_status))
    return int(firing["id"])


async def _exists(conn, table: str, column: str, value: object) -> bool:
    return await (await conn.execute(f"SELECT 1 FROM {table} WHERE {column} = %s", (value,))).fetchone() is not None


@pytest.fixture
async def aged(client, conn, make_actor):
    """Old and recent rows of every purged table; open tickets' ones among them."""
    agent = await make_actor(Role.admin)
    open_ticket, closed_ticket = await _ticket(client, agent), await _ticket(client, agent, "cancelled")
    rows = {
        "gone_conv": await _conversation(conn), "recent_conv": await _conversation(conn, old=False),
        "open_conv": await _conversation(conn, ticket=open_ticket),
        "closed_conv": await _conversation(conn, ticket=closed_ticket),
        "old_key": uuid.uuid4().hex, "new_key": uuid.uuid4().hex,
        "gone_firing": await _firing(conn, closed_ticket, "sent"),
        "pending_firing": await _firing(conn, closed_ticket, "retrying"),
        "open_firing": await _firing(conn, open_ticket, "sent"),
    }
    for key, age in ((rows["old_key"], "now() - interval '25 hours'"), (rows["new_key"], "now()")):
        await conn.execute(f"INSERT INTO idempotency_keys (user_id, scope, key, request_hash, created_at) "
                           f"VALUES (%s, 'test', %s, 'h', {age})", (agent.user.id, key))
    for name, ticket in (("gone_note", closed_ticket), ("open_note", open_ticket)):
        rows[name] = (await (await conn.execute(
            f"INSERT INTO notifications (user_id, ticket_id, title, body, created_at) "
            f"VALUES (%s, %s, 't', 'b', {OLD}) RETURNING id", (agent.user.id, ticket["id"]))).fetchone())["id"]
    rows["gone_answer"] = (await (await conn.execute(
        f"INSERT INTO kb_answers (question, mode, confident, answer, created_at) "
        f"VALUES ('q', 'none', false, 'a', {OLD}) RETURNING id")).fetchone())["id"]
    job = await (await conn.execute(
        "INSERT INTO procrastinate_jobs (queue_name, task_name) VALUES ('sla', 'sla.check') RETURNING id")).fetchone()
    for status in ("doing", "failed"):  # as a worker would: each change writes a procrastinate event
        await conn.execute("UPDATE procrastinate_jobs SET status = %s WHERE id = %s", (status, job["id"]))
    await conn.execute(f"UPDATE procrastinate_events SET at = {OLD} WHERE job_id = %s", (job["id"],))
    rows["gone_job"] = job["id"]
    for name, age in (("gone_event", OLD), ("recent_event", "now()")):
        rows[name] = f"Ev{uuid.uuid4().hex}"
        await conn.execute(f"INSERT INTO channel_inbound (channel, event_id, received_at) VALUES ('slack', %s, {age})",
                           (rows[name],))
    return rows


async def test_purge_deletes_what_is_past_retention_and_keeps_open_tickets_data(conn, settings, aged):
    dry = {p.table: p for p in await retention.purge(conn, settings, dry_run=True)}
    assert dry["chat_conversations"].matched >= 2 and dry["chat_messages"].matched >= 4
    assert all(p.deleted == 0 for p in dry.values())
    assert await _exists(conn, "chat_conversations", "id", aged["gone_conv"])  # a dry run deletes nothing

    done = {p.table: p for p in await retention.purge(conn, settings.model_copy(update={"retention_batch_size": 1}))}
    assert done["chat_conversations"].deleted >= 2 and done["chat_messages"].deleted >= 4
    for table, column, key, kept in [
        ("chat_conversations", "id", "gone_conv", False), ("chat_conversations", "id", "closed_conv", False),
        ("chat_conversations", "id", "open_conv", True), ("chat_conversations", "id", "recent_conv", True),
        ("chat_messages", "conversation_id", "open_conv", True), ("chat_messages", "conversation_id", "gone_conv", False),
        ("idempotency_keys", "key", "old_key", False), ("idempotency_keys", "key", "new_key", True),
        ("notifications", "id", "gone_note", False), ("notifications", "id", "open_note", True),
        ("kb_answers", "id", "gone_answer", False),
        ("alert_firings", "id", "gone_firing", False), ("alert_firings", "id", "pending_firing", True),
        ("alert_firings", "id", "open_firing", True), ("alert_deliveries", "firing_id", "gone_firing", False),
        ("procrastinate_jobs", "id", "gone_job", False),
        ("channel_inbound", "event_id", "gone_event", False), ("channel_inbound", "event_id", "recent_event", True),
    ]:
        assert await _exists(conn, table, column, aged[key]) is kept, (table, key)
    again = await retention.purge(conn, settings, dry_run=True)
    assert {p.table: p.matched for p in again}["chat_conversations"] == 0


async def test_deskmate_purge_dry_run_lists_every_table(conn, settings, aged, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", settings.database_url.get_secret_value())
    monkeypatch.setenv("DESKMATE_DATA_DIR", str(settings.data_dir))
    get_settings.cache_clear()
    try:
        result = await asyncio.to_thread(CliRunner().invoke, cli.app, ["purge", "--dry-run"])  # it runs its own loop
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines()}
    assert set(retention.AGES) <= set(lines) and "would go" in lines["kb_answers"]
    assert int(lines["chat_conversations"].split()[1]) >= 2
    assert await _exists(conn, "chat_conversations", "id", aged["gone_conv"])


def test_the_worker_runs_the_purge_every_hour():
    assert "api.retention.tasks" in registry.TASK_MODULES and "retention" in jobs.QUEUES
    app = jobs.make_app()
    assert "retention.purge" in app.tasks
    periodic = [p for p in app.periodic_registry.periodic_tasks.values() if p.task.name == "retention.purge"]
    assert periodic and periodic[0].cron == "23 * * * *"
