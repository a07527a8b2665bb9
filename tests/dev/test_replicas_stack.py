"""``deskmate run --replicas api=2,worker=2`` with the real Procfile's processes against one Postgres: tickets and
chat turns sent through both api processes at once are each stored once, and every job runs once.

- tickets: 40 without a key and 10 keys sent four times each (twice to each api, all at once): 50 tickets, each
  key's four answers name one ticket and only one of them is the original; the two workers drain the triage
  and alert jobs: every job started exactly once (procrastinate's events) and every ticket has exactly one
  automatic routing decision.
- chat (real Rasa and action server; skipped without .venv-rasa and the trained model unless
  DESKMATE_REQUIRE_RASA is set): six conversations at once, each turn through the other api, the last two
  turns of each sent through both apis at the same moment: every text is in the transcript once, with the
  replies Rasa gave.
- SIGTERM stops every process the run started and their children.

``DESKMATE_TEST_RASA_REPLICAS=2`` runs two Rasa servers and the Redis lock store instead of one (≈1.2 GB and
1–3 minutes of start-up each on two cores, so not by default).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import psycopg
import pytest
from fakes.waiting import until, wait_until
from replica_support import DeskmateRun, alive, group_members, run_env

from api.auth.models import Role
from api.dev import imap, supervisor
from api.settings import REPO_ROOT

RASA = REPO_ROOT / ".venv-rasa" / "bin" / "rasa"
RASA_MODEL = REPO_ROOT / "bot" / "models" / "deskmate.tar.gz"
RASA_REPLICAS = int(os.environ.get("DESKMATE_TEST_RASA_REPLICAS", "1"))
START_TIMEOUT_S = float(os.environ.get("DESKMATE_RASA_START_TIMEOUT", "400"))
RESTARTING = "restarting"  # what the gateway says when Rasa does not answer (docs/chat.md)


def _with_rasa() -> bool:
    present = RASA.exists() and RASA_MODEL.exists()
    if not present and os.environ.get("DESKMATE_REQUIRE_RASA"):
        pytest.fail(f"DESKMATE_REQUIRE_RASA is set but {RASA} or {RASA_MODEL} is missing")
    return present


@dataclass
class Stack:
    run: DeskmateRun
    apis: list[str]
    rasas: list[str]

    def pids(self) -> dict[str, int]:
        return self.run.started()


@pytest.fixture(scope="module")
def stack(settings, tmp_path_factory) -> Iterator[Stack]:  # type: ignore[no-untyped-def]
    """The run: two apis, two workers, and Rasa with its action server when they are installed."""
    tmp = tmp_path_factory.mktemp("replicas")
    real = supervisor.read_procfile(REPO_ROOT / "Procfile")
    names = ["api", "worker", "rasa", "actions"] if _with_rasa() else ["api", "worker"]
    procfile = tmp / "Procfile"
    procfile.write_text("".join(f"{name}: {real[name]}\n" for name in names))
    spec = "api=2,worker=2" + (f",rasa={RASA_REPLICAS}" if "rasa" in names and RASA_REPLICAS > 1 else "")
    env = run_env(settings, tmp, apis=2, rasas=RASA_REPLICAS)
    env.update({"DESKMATE_KB_PRELOAD_MODEL": "false", "DESKMATE_LOG_LEVEL": "WARNING"})
    run = DeskmateRun(["--procfile", str(procfile), "--replicas", spec], env=env)
    api_base, rasa_base = int(env["DESKMATE_PORT"]), int(env["DESKMATE_RASA_URL"].rsplit(":", 1)[1])
    apis = [f"http://127.0.0.1:{api_base + i}" for i in range(2)]
    rasas = [f"http://127.0.0.1:{rasa_base + i}" for i in range(RASA_REPLICAS)] if "rasa" in names else []
    try:
        run.wait_for(r"^api\.2\s+\| started", timeout=180)
        for url in apis:
            wait_until(lambda url=url: _answers(f"{url}/readyz") or _ended(run), 240, f"{url}/readyz")
        yield Stack(run, apis, rasas)
    finally:
        if run.proc.poll() is None:
            run.stop()
        with psycopg.connect(settings.database_url.get_secret_value(), autocommit=True) as conn:
            conn.execute("DELETE FROM mailboxes WHERE name = %s", (imap.MAILBOX_NAME,))  # its Dovecot is gone


def _ended(run: DeskmateRun) -> bool:
    if run.proc.poll() is not None:
        pytest.fail(f"deskmate run ended (exit {run.proc.returncode}):\n{run.output[-6000:]}")
    return False


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


async def _create(client: httpx.AsyncClient, title: str, key: str | None = None) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key else {}
    return await client.post("/api/v1/tickets", json={"title": title, "description": "sent to one of two apis"},
                             headers=headers)


# The worker deletes a job that succeeded, with its events; this test-only trigger keeps a copy of every start.
WATCH_STARTS = """
CREATE TABLE test_replica_job_starts (job_id bigint, task_name text, worker_id bigint);
CREATE FUNCTION test_replica_job_started() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.type = 'started' THEN
        INSERT INTO test_replica_job_starts SELECT id, task_name, worker_id FROM procrastinate_jobs WHERE id = NEW.job_id;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER test_replica_job_started AFTER INSERT ON procrastinate_events
    FOR EACH ROW EXECUTE FUNCTION test_replica_job_started();
"""
UNWATCH_STARTS = """
DROP TRIGGER IF EXISTS test_replica_job_started ON procrastinate_events;
DROP FUNCTION IF EXISTS test_replica_job_started();
DROP TABLE IF EXISTS test_replica_job_starts;
"""


@pytest.fixture
async def job_starts(conn) -> AsyncIterator[None]:  # type: ignore[no-untyped-def]
    await conn.execute(UNWATCH_STARTS)
    await conn.execute(WATCH_STARTS)
    yield
    await conn.execute(UNWATCH_STARTS)


async def test_tickets_sent_through_both_apis_at_once_are_created_once_and_triaged_once(
        stack: Stack, make_actor, conn, job_starts) -> None:  # type: ignore[no-untyped-def]
    employee = await make_actor(Role.employee)
    tag = uuid.uuid4().hex[:10]
    mark = (await (await conn.execute("SELECT coalesce(max(id), 0) AS id FROM procrastinate_jobs")).fetchone())["id"]
    clients = [httpx.AsyncClient(base_url=url, headers=employee.headers, timeout=60) for url in stack.apis]
    try:
        plain = [_create(clients[i % 2], f"{tag} plain {i}") for i in range(40)]
        keyed = [_create(clients[j % 2], f"{tag} keyed {k}", key=f"{tag}-{k}") for k in range(10) for j in range(4)]
        answers = await asyncio.gather(*plain, *keyed)
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))

    assert [a.status_code for a in answers] == [201] * 80, [a.text for a in answers if a.status_code != 201][:3]
    assert len({a.json()["id"] for a in answers[:40]}) == 40
    for k in range(10):
        four = answers[40 + 4 * k:40 + 4 * k + 4]
        assert len({a.json()["id"] for a in four}) == 1  # the key is honoured across the two processes
        assert sorted(a.headers.get("Idempotent-Replayed", "") for a in four) == ["", "true", "true", "true"]
    rows = await (await conn.execute("SELECT id, title FROM tickets WHERE title LIKE %s", (f"{tag} %",))).fetchall()
    assert sorted(r["title"] for r in rows) == sorted([f"{tag} plain {i}" for i in range(40)]
                                                      + [f"{tag} keyed {k}" for k in range(10)])
    ids = [r["id"] for r in rows]

    async def drained() -> bool:
        behind = await (await conn.execute(
            "SELECT count(*) AS n FROM tickets t LEFT JOIN triage_cursors c ON c.ticket_id = t.id "
            "WHERE t.id = ANY(%s) AND coalesce(c.last_event_id, 0) < "
            "(SELECT max(e.id) FROM ticket_events e WHERE e.ticket_id = t.id)", (ids,))).fetchone()
        busy = await (await conn.execute(
            "SELECT count(*) AS n FROM procrastinate_jobs WHERE id > %s AND (status = 'doing' OR "
            "(status = 'todo' AND (scheduled_at IS NULL OR scheduled_at <= now())))", (mark,))).fetchone()
        return behind["n"] == 0 and busy["n"] == 0

    await until(drained, timeout_s=300, what="the two workers to triage every ticket and run every due job")
    decisions = await (await conn.execute(
        "SELECT t.id, count(d.id) AS n FROM tickets t LEFT JOIN routing_decisions d "
        "ON d.ticket_id = t.id AND d.trigger = 'auto' WHERE t.id = ANY(%s) GROUP BY t.id", (ids,))).fetchall()
    assert {r["n"] for r in decisions} == {1}  # triage routed each ticket exactly once
    starts = await (await conn.execute(
        "SELECT job_id, task_name, count(*) AS n, count(DISTINCT worker_id) AS workers FROM test_replica_job_starts "
        "WHERE job_id > %s GROUP BY job_id, task_name", (mark,))).fetchall()
    assert sum(1 for s in starts if s["task_name"] == "triage.process_ticket") >= len(ids)  # a job per ticket
    assert [s for s in starts if s["n"] != 1] == []  # no job ran twice
    workers = await (await conn.execute(
        "SELECT count(DISTINCT worker_id) AS n FROM test_replica_job_starts WHERE job_id > %s", (mark,))).fetchone()
    assert workers["n"] == 2  # both workers took jobs
    failed = await (await conn.execute(
        "SELECT count(*) AS n FROM procrastinate_jobs WHERE id > %s AND status NOT IN ('todo', 'succeeded')",
        (mark,))).fetchone()
    assert failed["n"] == 0
    assert all(alive(stack.pids()[name]) for name in ("api.1", "api.2", "worker.1", "worker.2"))


async def _conversation(apis: list[httpx.AsyncClient], tag: str, c: int) -> tuple[list[str], list[dict], list[dict]]:  # type: ignore[type-arg]
    """One conversation: four turns through alternating apis, then two at once through both; returns the texts
    sent, the turns' answers and the transcript."""
    started = (await apis[c % 2].post("/api/v1/chat/conversations", json={})).raise_for_status().json()
    session = {"X-Chat-Session": started["session_token"]}
    url = f"/api/v1/chat/conversations/{started['conversation_id']}/messages"
    texts = [f"my laptop is slow ({tag} c{c} m{m})" for m in range(6)]
    turns = []
    for m in range(4):
        turns.append((await apis[(c + m) % 2].post(url, json={"text": texts[m]}, headers=session)).json())
    both = await asyncio.gather(*(apis[i].post(url, json={"text": texts[4 + i]}, headers=session) for i in (0, 1)))
    turns += [answer.json() for answer in both]
    history = (await apis[c % 2].get(url, headers=session)).raise_for_status().json()["messages"]
    return texts, turns, history


async def test_chat_turns_sent_through_both_apis_are_each_kept_once_with_rasas_replies(stack: Stack) -> None:
    if not stack.rasas:
        pytest.skip("needs .venv-rasa and bot/models/deskmate.tar.gz (make bot)")
    for url in stack.rasas:
        wait_until(lambda url=url: _answers(f"{url}/"), START_TIMEOUT_S, f"Rasa at {url}")
    tag = uuid.uuid4().hex[:8]
    apis = [httpx.AsyncClient(base_url=url, timeout=120) for url in stack.apis]
    try:
        results = await asyncio.gather(*(_conversation(apis, tag, c) for c in range(6)))
    finally:
        await asyncio.gather(*(c.aclose() for c in apis))

    for texts, turns, history in results:
        assert sorted(m["text"] for m in history if m["direction"] == "user") == sorted(texts)  # each once
        assert all(turn["messages"] for turn in turns), turns
        assert not any(RESTARTING in m["text"] for turn in turns for m in turn["messages"])  # Rasa answered
        replies = sorted(m["id"] for turn in turns for m in turn["messages"])
        assert sorted(m["id"] for m in history if m["direction"] == "bot") == replies  # kept once, none extra


def test_stopping_the_run_stops_every_replica_and_its_children(stack: Stack) -> None:
    """Last in this module: SIGTERM (as Ctrl-C) ends the run cleanly and leaves no process of it behind."""
    started = stack.pids()
    assert {"api.1", "api.2", "worker.1", "worker.2"} <= set(started)
    members = group_members(set(started.values()))
    assert members >= {pid for pid in started.values() if alive(pid)}
    code = stack.run.stop()
    assert code == 0, stack.run.output[-4000:]
    assert "deskmate stopped" in stack.run.output
    assert [pid for pid in members if alive(pid)] == []
