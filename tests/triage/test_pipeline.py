"""The triage pipeline: each event processed once, in order; the triage switch; one bad input or one failing
step stalls nothing (recorded, skipped, the other steps and the cursor go on); property-based inputs
through ticket create → triage → alerts always end in a final state."""

from __future__ import annotations

import subprocess
import sys
import uuid

from fakes.triage import drain, worker_settings
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from api import jobs
from api.alerts import service as alerts
from api.alerts.models import AlertRuleIn
from api.auth.models import Role
from api.kb import embedding
from api.kb.embedding import get_embedder
from api.routing import rules
from api.routing.models import RuleIn
from api.settings import REPO_ROOT
from api.tickets import service as tickets
from api.tickets.models import TicketCreate
from api.triage import pipeline


async def _cursor_and_last(conn, ticket_id: int) -> tuple[int | None, int]:
    last = await (await conn.execute("SELECT max(id) AS id FROM ticket_events WHERE ticket_id = %s",
                                     (ticket_id,))).fetchone()
    cursor = await (await conn.execute("SELECT last_event_id FROM triage_cursors WHERE ticket_id = %s",
                                       (ticket_id,))).fetchone()
    return (cursor["last_event_id"] if cursor else None), last["id"]


async def _count(conn, query: str, *args) -> int:
    return (await (await conn.execute(query, args)).fetchone())["n"]


async def test_every_ticket_event_is_processed_once_in_order(ticket_jobs, client, conn, make_actor, settings):
    employee = await make_actor()
    ticket = (await client.post("/api/v1/tickets", json={"title": "Webcam not detected"}, headers=employee.headers)).json()
    await client.post(f"/api/v1/tickets/{ticket['id']}/comments", json={"body": "any news?"}, headers=employee.headers)
    assert len(await ticket_jobs(ticket["id"])) == 2  # one per change made by people
    ws = worker_settings(settings)
    done = await pipeline.process_ticket(conn, ticket_id=ticket["id"], settings=ws, embedder=get_embedder(settings))
    assert done >= 2  # created, commented, and what triage itself did (category, assignment, due times)
    assert await pipeline.process_ticket(conn, ticket_id=ticket["id"], settings=ws, embedder=get_embedder(settings)) == 0
    cursor, last = await _cursor_and_last(conn, ticket["id"])
    assert cursor == last
    decisions = "SELECT count(*) AS n FROM routing_decisions WHERE ticket_id = %s"
    assert await _count(conn, decisions, ticket["id"]) == 1
    assert len(await ticket_jobs(ticket["id"])) == 2 + 1  # triage's own changes queued nothing; one SLA timer
    await drain(ws, queues=["triage"])  # the queued jobs for those events find nothing left to do
    assert [j for j in await ticket_jobs(ticket["id"]) if j["task_name"] == "triage.process_ticket"] == []
    assert await _count(conn, decisions, ticket["id"]) == 1


async def test_triage_can_be_switched_off(principal_of, ticket_jobs, conn, make_actor, settings):
    principal = await principal_of(await make_actor())
    queue = jobs.open_queue(settings.model_copy(update={"triage_enabled": False}))
    try:
        ticket, _ = await tickets.create(conn, principal=principal, data=TicketCreate(title="quiet"))
    finally:
        jobs.close_queue(queue)
    assert await ticket_jobs(ticket.id) == []
    loud, _ = await tickets.create(conn, principal=principal, data=TicketCreate(title="loud"))
    assert [j["task_name"] for j in await ticket_jobs(loud.id)] == ["triage.process_ticket"]


async def test_a_huge_intent_confidence_does_not_stall_triage(ticket_jobs, client, conn, make_actor, settings):
    """`1` followed by 400 zeros: float() overflowed inside classification, the job retried and died, and
    the cursor never moved. Now the confidence is clamped and the ticket is routed."""
    employee = await make_actor()
    for confidence in (10**400, -(10**400)):
        body = {"title": "VPN keeps dropping", "integration_metadata": {"intent": "request_vpn", "confidence": confidence}}
        ticket = (await client.post("/api/v1/tickets", json=body, headers=employee.headers)).json()
        await drain(worker_settings(settings), queues=["triage"])
        cursor, last = await _cursor_and_last(conn, ticket["id"])
        assert cursor == last
        assert await _count(conn, "SELECT count(*) AS n FROM routing_decisions WHERE ticket_id = %s", ticket["id"]) == 1
        assert await _count(conn, "SELECT count(*) AS n FROM triage_failures WHERE ticket_id = %s", ticket["id"]) == 0
        assert await ticket_jobs(ticket["id"]) == [] or all(
            j["task_name"] == "sla.check" for j in await ticket_jobs(ticket["id"]))


async def test_a_failing_step_is_recorded_and_skipped_and_the_rest_still_happens(ticket_jobs,
        client, conn, make_actor, make_team, settings, monkeypatch):
    team, word = await make_team(), f"boom{uuid.uuid4().hex[:8]}"
    await make_actor(Role.agent, teams=(team,))
    rule = await rules.create_rule(conn, data=RuleIn(name=f"boom {word}", position=1, team=team,
                                                     conditions={"keywords": [word]}))
    alert = await alerts.create_rule(conn, settings=settings, actor_id=None, data=AlertRuleIn(
        name=f"boom {word}", events=["assigned"], conditions={"teams": [team]},
        channels=[{"channel": "IN_APP", "recipients": [{"kind": "assignee"}]}]))

    async def broken_sla(conn, c):
        raise ZeroDivisionError("a step that raises on this input")

    monkeypatch.setattr(pipeline, "STEPS", [(n, broken_sla if n == "sla" else s) for n, s in pipeline.STEPS])
    employee = await make_actor()
    try:
        ticket = (await client.post("/api/v1/tickets", json={"title": f"{word} printer on fire"},
                                    headers=employee.headers)).json()
        await drain(worker_settings(settings), queues=["triage"])
        cursor, last = await _cursor_and_last(conn, ticket["id"])
        assert cursor == last  # the cursor went past every event
        routed = (await client.get(f"/api/v1/tickets/{ticket['id']}", headers=employee.headers)).json()
        assert routed["team"] == team and routed["assignee_id"] is not None  # routing still happened
        fired = "SELECT count(*) AS n FROM alert_firings WHERE rule_id = %s AND ticket_id = %s"
        assert await _count(conn, fired, alert.id, ticket["id"]) == 1  # and the alert rule fired
        failures = await pipeline.list_failures(conn, ticket_id=ticket["id"])
        assert {f.step for f in failures} == {"sla"} and len(failures) >= 2  # one per event, each recorded
        assert all(f.error == "ZeroDivisionError: a step that raises on this input" for f in failures)
        admin, agent = await make_actor(Role.admin), await make_actor(Role.agent, teams=(team,))
        listed = await client.get("/api/v1/triage/failures", params={"ticket_id": ticket["id"]}, headers=admin.headers)
        assert [f["id"] for f in listed.json()] == [f.id for f in failures]  # the dead letter, for operators
        assert (await client.get("/api/v1/triage/failures", headers=agent.headers)).status_code == 403
        assert [j for j in await ticket_jobs(ticket["id"]) if j["status"] in ("todo", "doing", "failed")] == []
    finally:
        await rules.delete_rule(conn, rule_id=rule.id)


JSON_LEAVES = (st.none() | st.booleans() | st.integers() | st.sampled_from([10**400, -(10**400), 2**64])
               | st.floats(allow_nan=False, allow_infinity=False)
               | st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=50))
JSON = st.recursive(JSON_LEAVES, lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.text(max_size=10).filter(lambda k: "\x00" not in k), inner, max_size=4),
                    max_leaves=25)
TEXT = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), min_size=1, max_size=300)
METADATA = st.fixed_dictionaries({}, optional={
    "intent": st.sampled_from(["request_vpn", "reset_password", "no_such_intent"]) | JSON,
    "confidence": JSON, "intent_confidence": JSON, "extra": JSON})


def _deep(depth: int) -> object:
    value: object = 1e308
    for i in range(depth):
        value = {"k": value} if i % 2 else [value]
    return value


@hsettings(max_examples=25, deadline=None, database=None,
           suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(title=TEXT, description=TEXT, metadata=METADATA, urgency=st.integers(1, 3))
async def test_arbitrary_input_through_create_triage_and_alerts_always_ends_in_a_final_state(
        client, conn, make_actor, settings, title, description, metadata, urgency):
    await _through_triage(client, conn, make_actor, settings, title=title, description=description,
                          metadata=metadata, urgency=urgency)


async def test_deeply_nested_metadata_ends_in_a_final_state(client, conn, make_actor, settings):
    await _through_triage(client, conn, make_actor, settings, title="deep", description="",
                          metadata={"intent": "request_vpn", "confidence": _deep(120), "nested": _deep(200)}, urgency=1)


async def _through_triage(client, conn, make_actor, settings, *, title, description, metadata, urgency) -> None:
    employee = await make_actor()
    body = {"title": title, "description": description, "integration_metadata": metadata, "urgency": urgency}
    created = await client.post("/api/v1/tickets", json=body, headers=employee.headers)
    assert created.status_code < 500, created.text
    if created.status_code != 201:
        return  # refused input (e.g. a blank title) queues nothing
    ticket_id = created.json()["id"]
    await drain(worker_settings(settings), queues=["triage", "alerts"])
    cursor, last = await _cursor_and_last(conn, ticket_id)
    assert cursor == last  # every event of the ticket was processed
    stuck = await (await conn.execute(
        "SELECT task_name, status FROM procrastinate_jobs WHERE args->>'ticket_id' = %s AND queue_name = 'triage' "
        "AND status IN ('todo', 'doing', 'failed')", (str(ticket_id),))).fetchall()
    assert stuck == []
    deliveries = await (await conn.execute(
        "SELECT j.status FROM procrastinate_jobs j JOIN alert_deliveries d ON j.args->>'delivery_id' = d.id::text "
        "WHERE d.ticket_id = %s AND j.status IN ('todo', 'doing') AND (j.scheduled_at IS NULL OR j.scheduled_at <= now())",
        (ticket_id,))).fetchall()
    assert deliveries == []


async def test_the_worker_triages_with_the_embedder_loaded_for_its_settings(principal_of, conn, make_actor, settings, monkeypatch):
    asked: list[int] = []
    load = embedding.get_embedder

    def spy(s):
        asked.append(s.kb_embed_batch_size)
        return load(s)

    monkeypatch.setattr(embedding, "get_embedder", spy)
    principal = await principal_of(await make_actor())
    await tickets.create(conn, principal=principal, data=TicketCreate(title="Printer jams on floor 4"))
    await drain(worker_settings(settings, kb_embed_batch_size=7), queues=["triage"])
    assert asked and set(asked) == {7}  # DESKMATE_KB_EMBED_BATCH_SIZE reaches the worker's embedder


TICKETS_ONLY_QUEUE = (
    "import sys, api.tickets.service; loaded = sorted(m for m in sys.modules if m.startswith('api.triage')); "
    "assert loaded == ['api.triage', 'api.triage.queue'], loaded")


def test_the_ticket_service_queues_triage_without_importing_the_steps():
    done = subprocess.run([sys.executable, "-c", TICKETS_ONLY_QUEUE], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
