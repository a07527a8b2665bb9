"""A worker killed mid-delivery: the receiver accepted the webhook, the worker died (SIGKILL) before it
recorded that. Another worker process recovers the stalled job and sends again with the same delivery
key; the receiver recognises it, so the alert is accepted exactly once. Real processes, no sleeps."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import uuid
from collections.abc import Callable, Iterator

import psycopg
import pytest
from fakes.triage import drain, worker_settings
from fakes.waiting import wait_until
from fakes.webhook_receiver import Receiver, ReceiverServer
from fakes.workers import worker_processes
from psycopg.rows import dict_row

from api.alerts import service as alerts
from api.alerts.models import AlertRuleIn
from api.auth.models import Role
from api.routing import rules as routing
from api.routing.models import RuleIn
from api.settings import Settings


@pytest.fixture
def spawn(settings: Settings) -> Iterator[Callable[[], subprocess.Popen[bytes]]]:
    """Starts `deskmate worker --queue alerts` processes with a short heartbeat; stops them afterwards."""
    assert settings.database_url is not None
    env = {**os.environ, "DATABASE_URL": settings.database_url.get_secret_value(), "DESKMATE_ENV": "test",
           "DESKMATE_DATA_DIR": str(settings.data_dir), "DESKMATE_OUTBOUND_ALLOW_PRIVATE": "true",
           "DESKMATE_WORKER_HEARTBEAT_S": "0.5", "DESKMATE_WORKER_STALLED_S": "2", "DESKMATE_WORKER_CONCURRENCY": "1",
           "DESKMATE_LOG_LEVEL": "WARNING", "DESKMATE_ALERTS_BACKOFF_BASE_S": "0"}

    with worker_processes(env, queue="alerts") as start:
        yield start


async def test_a_worker_killed_mid_delivery_delivers_exactly_once_after_restart(
        client, conn, settings, make_team, make_actor, spawn):
    ws = worker_settings(settings)
    # Earlier tests leave jobs queued (their tickets' alerts and SLA timers); they are not this test's business,
    # and draining them all would only make it slow.
    await conn.execute("SELECT procrastinate_cancel_job_v1(id, false, false) FROM procrastinate_jobs WHERE status = 'todo'")
    team, word = await make_team(), f"crash{uuid.uuid4().hex[:8]}"
    await make_actor(Role.agent, teams=(team,))
    await routing.create_rule(conn, data=RuleIn(name=f"crash {word}", position=1, team=team,
                                                conditions={"keywords": [word]}))
    with ReceiverServer(Receiver(secret="whsec_" + secrets.token_urlsafe(24))) as server:
        receiver = server.receiver
        rule = await alerts.create_rule(conn, settings=ws, actor_id=None, data=AlertRuleIn(
            name=f"crash {word}", events=["created"], conditions={"teams": [team]}, webhook_secret=receiver.secret,
            channels=[{"channel": "WEBHOOK", "url": server.url}]))
        employee = await make_actor()
        await client.post("/api/v1/tickets", json={"title": f"Badge reader {word} dead"}, headers=employee.headers)
        await drain(ws, queues=["triage"])  # the alert fires; its delivery job waits in the 'alerts' queue
        delivery = await (await conn.execute("SELECT id, idempotency_key, status FROM alert_deliveries WHERE rule_id = %s",
                                             (rule.id,))).fetchone()
        assert delivery["status"] == "pending"

        first = spawn()
        receiver.on_accept = lambda key: (os.kill(first.pid, signal.SIGKILL), first.wait(10))
        assert receiver.wait_for(lambda r: len(r.accepted) == 1, timeout=90), "the first worker never delivered"
        assert first.wait(10) == -signal.SIGKILL
        receiver.on_accept = None
        with psycopg.connect(settings.database_url.get_secret_value(), row_factory=dict_row) as sync:
            row = sync.execute("SELECT status, attempts FROM alert_deliveries WHERE id = %s", (delivery["id"],)).fetchone()
            assert row == {"status": "sending", "attempts": 1}  # accepted by the receiver, not recorded by us

            second = spawn()
            wait_until(lambda: sync.execute("SELECT status FROM alert_deliveries WHERE id = %s",
                                       (delivery["id"],)).fetchone()["status"] == "sent", 90, "the restarted delivery")
            attempts = sync.execute("SELECT status FROM alert_attempts WHERE delivery_id = %s ORDER BY attempt",
                                    (delivery["id"],)).fetchall()
        second.send_signal(signal.SIGTERM)
        assert second.wait(30) == 0

    assert [a["status"] for a in attempts] == ["interrupted", "ok"]
    assert [(s.key, s.status, s.signature_ok) for s in receiver.seen] == [(delivery["idempotency_key"], 200, True)] * 2
    assert list(receiver.accepted) == [delivery["idempotency_key"]]  # exactly once
