"""GET /api/v1/analytics/{metric} and /console/analytics: validation, roles, and the drawn charts."""

from __future__ import annotations

import json
import re

import pytest
from analytics_support import seed_tickets

from api.analytics import charts
from api.auth.models import Role


@pytest.fixture
async def agent(make_actor):
    return await make_actor(Role.agent)


@pytest.mark.parametrize("query", [
    {"from": "2019-03-10", "to": "2019-03-01"},           # from after to
    {"from": "2018-01-01", "to": "2019-03-01"},           # more than 366 days
    {"granularity": "month"},
    {"team": "Not A Slug"},
    {"colour": "blue"},                                   # unknown parameter
    {"from": "yesterday"},
])
async def test_bad_parameters_are_a_problem_422(client, agent, query) -> None:
    response = await client.get("/api/v1/analytics/volume", params=query, headers=agent.headers)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_an_unknown_metric_is_422(client, agent) -> None:
    response = await client.get("/api/v1/analytics/happiness", headers=agent.headers)
    assert response.status_code == 422


async def test_employees_may_not_see_analytics(client, make_actor) -> None:
    employee = await make_actor(Role.employee)
    assert (await client.get("/api/v1/analytics/volume", headers=employee.headers)).status_code == 403
    page = await client.get("/console/analytics", headers=employee.headers | {"accept": "text/html"})
    assert page.status_code == 403
    assert (await client.get("/api/v1/analytics/volume")).status_code == 401


async def test_agents_and_admins_get_the_metric_with_its_period(client, conn, make_actor, agent) -> None:
    seeded = await seed_tickets(conn, requester_id=(await make_actor()).user.id, agent_id=agent.user.id)
    admin = await make_actor(Role.admin)
    for actor in (agent, admin):
        response = await client.get("/api/v1/analytics/reopen_rate", headers=actor.headers,
                                    params={"from": "2019-03-04", "to": "2019-03-17", "team": seeded.team})
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["from"], body["to"], body["team"]) == ("2019-03-04", "2019-03-17", seeded.team)
        assert body["data"] == {"resolved": 3, "reopened": 1, "rate": 0.3333}


async def test_the_default_period_is_the_last_28_days(client, agent) -> None:
    body = (await client.get("/api/v1/analytics/backlog", headers=agent.headers)).json()
    assert len(body["data"]["open"]) == 28 and body["data"]["buckets"][-1] == body["to"]


async def test_the_page_charts_a_point_per_day_and_a_part_per_source(client, conn, make_actor, agent) -> None:
    seeded = await seed_tickets(conn, requester_id=(await make_actor()).user.id, agent_id=agent.user.id)
    page = await client.get("/console/analytics", headers=agent.headers | {"accept": "text/html"},
                            params={"from": "2019-03-04", "to": "2019-03-17", "team": seeded.team, "category": ""})
    assert page.status_code == 200, page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert re.findall(r"<script[^>]*>", page.text) == [  # data, the pinned Chart.js and the page's script: all local
        '<script type="application/json" id="chart-data">',
        f'<script src="/console/vendor/chart-{charts.CHART_JS_VERSION}.umd.min.js" defer>',
        '<script src="/console/analytics.js" defer>']
    specs = json.loads(page.text.split('id="chart-data">')[1].split("</script>")[0])
    volume = specs["volume-chart"]
    assert (volume["kind"], volume["stacked"], len(volume["labels"]), volume["labels"][0]) == ("bar", True, 14,
                                                                                              "2019-03-04")
    assert {s["label"]: sum(s["values"]) for s in volume["series"]} == {"CHATBOT": 1, "EMAIL": 1, "WEB": 2}
    assert 'data-chart="volume-chart"\n    data-points="14" data-series="3"' in page.text
    assert 'aria-label="Tickets created: 4 in all over 14 days; most: 2019-03-04 (1)."' in page.text
    assert specs["source-chart"]["labels"] == ["CHATBOT", "EMAIL", "WEB"]
    sources = page.text.split('id="source-chart"')[1].split("</figure>")[0]
    assert re.search(r"<td>EMAIL</td>\s*<td>1</td>\s*<td>25%</td>", sources)
    assert 'aria-label="Tickets by source: 4 in all over 3 sources; most: WEB (2)."' in sources
    assert specs["csat-chart"]["labels"] == ["1 of 5", "2 of 5", "3 of 5", "4 of 5", "5 of 5"]
    assert [s["label"] for s in specs["csat-chart"]["series"]] == ["Resolved by the bot", "Resolved by a person"]
    assert specs["backlog-chart"]["series"][0]["values"][-1] == 1  # C is still open
    assert "satisfaction, resolved by a" in page.text
    script = await client.get("/console/analytics.js")
    assert script.status_code == 200 and "new Chart(canvas" in script.text
    chart_js = await client.get(f"/console/vendor/chart-{charts.CHART_JS_VERSION}.umd.min.js")
    assert chart_js.status_code == 200 and f"Chart.js v{charts.CHART_JS_VERSION}" in chart_js.text[:100]
    assert "immutable" in chart_js.headers["cache-control"]
    css = await client.get("/console/analytics.css")
    assert css.status_code == 200 and ".canvas" in css.text
