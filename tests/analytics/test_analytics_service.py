"""Exact metric values over a known history (analytics_support.py describes it)."""

from __future__ import annotations

from datetime import date

import pytest
from analytics_support import Seeded, at, seed_conversations, seed_tickets

from api.analytics import service
from api.analytics.models import Metric, Period
from api.auth.models import Role


@pytest.fixture
async def seeded(conn, make_actor) -> Seeded:
    employee, agent = await make_actor(Role.employee), await make_actor(Role.agent)
    return await seed_tickets(conn, requester_id=employee.user.id, agent_id=agent.user.id)


def period(seeded: Seeded, **extra) -> Period:
    return Period.model_validate({"from": "2019-03-04", "to": "2019-03-17", "team": seeded.team} | extra)


async def test_volume_counts_tickets_by_source_per_day(conn, seeded) -> None:
    data = await service.volume(conn, period(seeded))
    assert data["buckets"][0] == date(2019, 3, 4) and len(data["buckets"]) == 14
    assert data["by_source"] == {"CHATBOT": [0, 0, 1] + [0] * 11, "EMAIL": [1] + [0] * 13,
                                 "WEB": [0, 1, 0, 0, 1] + [0] * 9}
    assert data["total"] == [1, 1, 1, 0, 1] + [0] * 9 and data["tickets"] == 4
    cat_a, cat_b = seeded.categories
    assert {k: sum(v) for k, v in data["by_category"].items()} == {cat_a: 3, cat_b: 1}


async def test_volume_per_week_and_for_one_category(conn, seeded) -> None:
    data = await service.volume(conn, period(seeded, granularity="week", category=seeded.categories[1]))
    assert data["buckets"] == [date(2019, 3, 4), date(2019, 3, 11)]
    assert data["by_source"] == {"EMAIL": [1, 0]}


async def test_backlog_follows_creations_resolutions_and_the_reopen(conn, seeded) -> None:
    data = await service.backlog(conn, period(seeded))
    assert data["open"] == [0, 1, 2, 1, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1]


async def test_mttr_counts_business_hours_only_across_the_weekend(conn, seeded) -> None:
    data = await service.mttr(conn, period(seeded))
    # A: Fri 16-17 + Mon 9-10 = 2h; B: Mon 9-17 + Tue 9-11 = 10h; D: Tue 14-17 + Wed 8h + Thu 9-10 = 12h
    assert (data["tickets"], data["mean_hours"], data["median_hours"]) == (3, 8.0, 10.0)
    only_weekend = await service.mttr(conn, period(seeded, **{"from": "2019-03-11"}))
    assert (only_weekend["tickets"], only_weekend["mean_hours"]) == (1, 2.0)
    cat_a, cat_b = seeded.categories  # random slugs: the list is sorted by slug, so compare by name
    assert {c["category"]: c["tickets"] for c in data["by_category"]} == {cat_a: 2, cat_b: 1}


async def test_mtta_is_the_first_response_of_a_person_of_the_desk(conn, seeded) -> None:
    data = await service.mtta(conn, period(seeded))
    assert (data["tickets"], data["mean_hours"], data["median_hours"]) == (3, 0.83, 1.0)  # 0.5h, 1h, 1h; C none
    assert data["by_team"] == [{"team": seeded.team, "tickets": 3, "mean_hours": 0.83, "median_hours": 1.0}]


async def test_first_contact_resolution_and_reopen_rate(conn, seeded) -> None:
    assert await service.fcr(conn, period(seeded)) == {"resolved": 3, "first_contact": 1, "rate": 0.3333}  # only A
    assert await service.reopen_rate(conn, period(seeded)) == {"resolved": 3, "reopened": 1, "rate": 0.3333}  # B


async def test_sla_compliance_and_breaches(conn, seeded) -> None:
    data = await service.sla(conn, period(seeded))
    assert (data["tickets"], data["both_met"], data["compliance"], data["breaches"]) == (3, 2, 0.6667, 1)
    assert data["breaches_series"]["resolve"][:3] == [0, 1, 0] and sum(data["breaches_series"]["respond"]) == 0


async def test_nothing_outside_the_period_or_team(conn, seeded, make_team) -> None:
    other = await make_team()
    assert (await service.volume(conn, period(seeded, team=other)))["tickets"] == 0
    assert (await service.fcr(conn, period(seeded, **{"from": "2019-03-12"})))["rate"] is None


async def test_deflection_containment_and_what_the_bot_fails_on(conn, app, seeded, make_actor) -> None:
    employee = await make_actor(Role.employee)
    await seed_conversations(conn, employee_id=employee.user.id, ticket_id=seeded.tickets["B"], month=4)
    april = Period.model_validate({"from": "2019-04-01", "to": "2019-04-30"})
    data = await service.deflection(conn, april)
    assert (data["conversations"], data["bot_resolved"], data["escalated"], data["open"]) == (4, 2, 1, 1)
    assert data["deflection_rate"] == 0.6667
    by_intent = {i["intent"]: i for i in data["by_intent"]}
    assert by_intent["password_reset"] | {} == {"intent": "password_reset", "conversations": 2, "bot_resolved": 1,
                                                "escalated": 1, "open": 0, "containment": 0.5}
    assert by_intent["software_request"]["bot_resolved"] == 1 and by_intent["nlu_fallback"]["open"] == 1
    assert data["csat"]["bot"]["answered"] == data["csat"]["person"]["answered"] == 0  # none in April

    failures = await service.bot_failures(conn, april)
    assert [(i["intent"], i["failed"]) for i in failures["intents"]] == [("nlu_fallback", 1), ("printer_issue", 1)]
    assert {q["question"] for q in failures["questions"]} == {"blorp the frobnicator", "printer on floor 3 jams"}
    assert [(a["question"], a["not_helpful"]) for a in failures["unhelpful_answers"]] == [
        ("printer on floor 3 jams", 1)]


async def test_every_metric_answers_through_get(conn, seeded) -> None:
    for metric in Metric:
        result = await service.get(conn, metric=metric, period=period(seeded))
        assert result.metric is metric and result.team == seeded.team


async def test_csat_is_split_between_the_bots_resolutions_and_peoples(conn, seeded, make_actor) -> None:
    employee = await make_actor(Role.employee)
    for key, who, asked, answered, score in (("A", "person", 11, 11, 4), ("D", "person", 7, None, None),
                                             ("B", "bot", 5, 6, 5)):
        await conn.execute(
            "INSERT INTO csat_surveys (ticket_id, requester_id, resolved_by, status, channel, asked_at, answered_at, "
            "score) VALUES (%s, %s, %s, 'sent', 'web', %s, %s, %s)",
            (seeded.tickets[key], employee.user.id, who, at(asked, 12), at(answered, 12) if answered else None, score))
    data = await service.csat(conn, period(seeded))
    assert data["person"] | {"scores": None} == {"asked": 2, "answered": 1, "average": 4.0, "response_rate": 0.5,
                                                  "scores": None}
    assert data["person"]["scores"] == {"1": 0, "2": 0, "3": 0, "4": 1, "5": 0}
    assert (data["bot"]["asked"], data["bot"]["answered"], data["bot"]["average"]) == (1, 1, 5.0)
    other_team = await service.csat(conn, period(seeded, team="no-such-team"))
    assert other_team["bot"]["asked"] == other_team["person"]["asked"] == 0
    everyone = await service.csat(conn, period(seeded, team=None))  # no filter: no ticket looked up (other tests' too)
    assert everyone["person"]["asked"] >= 2 and everyone["bot"]["answered"] >= 1
