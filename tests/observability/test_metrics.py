"""GET /metrics: refused without its token; requests by route template and status, chat turns, KB searches, the job
queue and alert deliveries."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from api import jobs
from api.auth.models import Role
from api.chat.rasa import SECRET_HEADER, RasaClient

HTTP = "deskmate_http_requests_total"
HTTP_COUNT = "deskmate_http_request_duration_seconds_count"


async def test_metrics_are_off_without_a_configured_token(client):
    r = await client.get("/metrics")
    assert r.status_code == 403
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "DESKMATE_METRICS_TOKEN" in r.json()["detail"]


@pytest.mark.parametrize("authorization", [None, "Bearer wrong-token", "Basic abc", "Bearer "])
async def test_metrics_refuse_a_missing_or_wrong_token(client, metrics_token, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    r = await client.get("/metrics", headers=headers)
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert metrics_token not in r.text


async def test_metrics_answer_prometheus_text_with_the_token(client, metrics_token):
    r = await client.get("/metrics", headers={"Authorization": f"Bearer {metrics_token}"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain; version=")
    names = {f.name for f in text_string_to_metric_families(r.text)}
    assert {"deskmate_http_requests", "deskmate_jobs", "deskmate_metrics_database_ok",
            "process_resident_memory_bytes"} <= names


async def test_a_ticket_create_counts_under_its_route_template_and_status(client, scrape, make_actor):
    employee = await make_actor(Role.employee)
    before = await scrape()
    r = await client.post("/api/v1/tickets", json={"title": "Printer on fire"}, headers=employee.headers)
    assert r.status_code == 201, r.text
    number = r.json()["number"]
    missing = await client.get("/api/v1/tickets/INC-999999999", headers=employee.headers)
    assert missing.status_code == 404
    seen = await client.get(f"/api/v1/tickets/{number}", headers=employee.headers)
    assert seen.status_code == 200
    after = await scrape()

    created = {"method": "POST", "route": "/api/v1/tickets", "status": "201"}
    assert after.value(HTTP, **created) == before.value(HTTP, **created) + 1
    one = {"method": "GET", "route": "/api/v1/tickets/{ref}"}
    for status in ("404", "200"):
        assert after.value(HTTP, **one, status=status) == before.value(HTTP, **one, status=status) + 1
    assert after.value(HTTP_COUNT, **one) == before.value(HTTP_COUNT, **one) + 2
    routes = {labels["route"] for labels in after.labels_of(HTTP)}
    assert not any(number in route or "999999999" in route for route in routes)  # templates, never raw paths


async def test_unknown_paths_share_one_label(client, scrape):
    before = await scrape()
    path = f"/no/such/{uuid.uuid4().hex}"
    assert (await client.get(path)).status_code == 404
    after = await scrape()
    unmatched = {"method": "GET", "route": "<unmatched>", "status": "404"}
    assert after.value(HTTP, **unmatched) == before.value(HTTP, **unmatched) + 1
    assert not any(path in labels["route"] for labels in after.labels_of(HTTP))


async def _conversation(client, employee) -> tuple[str, dict[str, str]]:
    r = await client.post("/api/v1/chat/conversations", json={}, headers=employee.headers)
    assert r.status_code == 201, r.text
    return r.json()["conversation_id"], {"X-Chat-Session": r.json()["session_token"]}


async def test_a_chat_turn_is_counted_and_timed_gateway_and_rasa(client, scrape, rasa, make_actor):
    conversation, session = await _conversation(client, await make_actor(Role.employee))
    before = await scrape()
    r = await client.post(f"/api/v1/chat/conversations/{conversation}/messages", json={"text": "hello"},
                          headers=session)
    assert r.status_code in (200, 201), r.text
    after = await scrape()

    assert after.value("deskmate_chat_turns_total", outcome="answered") == \
        before.value("deskmate_chat_turns_total", outcome="answered") + 1
    assert after.value("deskmate_chat_turn_seconds_count") == before.value("deskmate_chat_turn_seconds_count") + 1
    for part in ("gateway", "rasa"):
        assert after.value("deskmate_chat_turn_part_seconds_count", part=part) == \
            before.value("deskmate_chat_turn_part_seconds_count", part=part) + 1
    # the fake reports no action time (as a Rasa whose turn ran no custom action): nothing observed for it
    assert after.value("deskmate_chat_turn_part_seconds_count", part="action") == \
        before.value("deskmate_chat_turn_part_seconds_count", part="action")
    turn = after.value("deskmate_chat_turn_seconds_sum") - before.value("deskmate_chat_turn_seconds_sum")
    parts = sum(after.value("deskmate_chat_turn_part_seconds_sum", part=p)
                - before.value("deskmate_chat_turn_part_seconds_sum", part=p) for p in ("gateway", "rasa", "action"))
    assert turn > 0 and parts == pytest.approx(turn, rel=1e-6)  # the parts add up to the turn


async def test_a_turn_rasa_does_not_answer_counts_as_unavailable(client, scrape, app, make_actor):
    conversation, session = await _conversation(client, await make_actor(Role.employee))
    original = app.state.rasa
    app.state.rasa = RasaClient("http://127.0.0.1:9", channel_secret="x", timeout_s=5)  # nothing listens on 9
    try:
        before = await scrape()
        r = await client.post(f"/api/v1/chat/conversations/{conversation}/messages", json={"text": "hello"},
                              headers=session)
        assert r.status_code in (200, 201), r.text
        after = await scrape()
    finally:
        await app.state.rasa.aclose()
        app.state.rasa = original
    assert after.value("deskmate_chat_turns_total", outcome="rasa_unavailable") == \
        before.value("deskmate_chat_turns_total", outcome="rasa_unavailable") + 1
    assert after.value("deskmate_chat_turn_seconds_count") == before.value("deskmate_chat_turn_seconds_count")


async def test_a_kb_search_is_timed(client, scrape, make_actor):
    employee = await make_actor(Role.employee)
    before = await scrape()
    r = await client.post("/api/v1/kb/search", json={"query": "vpn keeps dropping"}, headers=employee.headers)
    assert r.status_code == 200, r.text
    after = await scrape()
    assert after.value("deskmate_kb_search_seconds_count", kind="search") == \
        before.value("deskmate_kb_search_seconds_count", kind="search") + 1


async def test_the_queue_gauges_show_a_deferred_job_and_its_age(scrape, conn):
    queue = f"metrics-test-{uuid.uuid4().hex[:8]}"
    async with conn.transaction():
        due = await jobs.defer(conn, "metrics.nothing", queue=queue)
        await jobs.defer(conn, "metrics.nothing", queue=queue, schedule_at=datetime.now(UTC) + timedelta(hours=1))
    try:
        await conn.execute("UPDATE procrastinate_events SET at = now() - interval '90 seconds' "
                           "WHERE job_id = %s AND type = 'deferred'", (due,))
        found = await scrape()
        assert found.value("deskmate_jobs", queue=queue, state="due") == 1
        assert found.value("deskmate_jobs", queue=queue, state="scheduled") == 1
        assert found.value("deskmate_jobs", queue=queue, state="doing") == 0
        assert 90 <= found.value("deskmate_jobs_oldest_due_seconds", queue=queue) < 3600
        assert found.value("deskmate_metrics_database_ok") == 1
    finally:
        await conn.execute("DELETE FROM procrastinate_jobs WHERE queue_name = %s", (queue,))
    assert found.value("deskmate_jobs", queue=queue, state="due") == 1
    gone = await scrape()
    assert not [labels for labels in gone.labels_of("deskmate_jobs") if labels["queue"] == queue]


async def test_the_deliveries_gauge_counts_by_channel_and_status(scrape, conn):
    rows = await (await conn.execute("SELECT channel, status, count(*) AS n FROM alert_deliveries "
                                     "GROUP BY channel, status")).fetchall()
    found = await scrape()
    shown = {(labels["channel"], labels["status"]): found.value("deskmate_alert_deliveries", **labels)
             for labels in found.labels_of("deskmate_alert_deliveries")}
    assert shown == {(r["channel"], r["status"]): r["n"] for r in rows}


async def test_the_action_time_rasa_reports_is_split_out_of_its_wait(client, scrape, app, make_actor, settings):
    """Rasa's channel (bot/channel.py) reports ``timing.action_s``; the gateway counts it as the action part."""
    def channel(request: httpx.Request) -> httpx.Response:
        if request.headers.get(SECRET_HEADER) != "s3cret":
            return httpx.Response(403, json={"error": "forbidden"})
        sender = json.loads(request.content)["sender"]
        return httpx.Response(200, json={"messages": [{"recipient_id": sender, "text": "Done."}],
                                         "intent": {"name": "greet", "confidence": 0.9},
                                         "timing": {"action_s": 1e-9, "actions": 1}})

    conversation, session = await _conversation(client, await make_actor(Role.employee))
    original = app.state.rasa
    app.state.rasa = RasaClient("http://rasa.test", channel_secret="s3cret", transport=httpx.MockTransport(channel))
    try:
        before = await scrape()
        r = await client.post(f"/api/v1/chat/conversations/{conversation}/messages", json={"text": "hello"},
                              headers=session)
        assert r.status_code in (200, 201), r.text
        after = await scrape()
    finally:
        await app.state.rasa.aclose()
        app.state.rasa = original

    def moved(name: str, **labels: str) -> float:
        return after.value(name, **labels) - before.value(name, **labels)

    assert moved("deskmate_chat_turn_part_seconds_count", part="action") == 1
    assert moved("deskmate_chat_turn_part_seconds_sum", part="action") == pytest.approx(1e-9)
    assert moved("deskmate_chat_turn_part_seconds_sum", part="rasa") > 0
    parts = sum(moved("deskmate_chat_turn_part_seconds_sum", part=p) for p in ("gateway", "rasa", "action"))
    assert parts == pytest.approx(moved("deskmate_chat_turn_seconds_sum"), rel=1e-6)
