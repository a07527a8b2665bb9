"""The rollups (api/analytics/rollups.py): backlog, MTTA and MTTR read from them equal the live computation."""

from __future__ import annotations

import psycopg
import pytest
from analytics_support import Seeded, at, seed_tickets
from psycopg.types.json import Jsonb
from rollup_support import assert_rolled_is_live, backlog_rows, change, durations_row

from api.analytics import rollups, service
from api.analytics.models import Period
from api.auth.models import Role


@pytest.fixture
async def people(make_actor) -> dict[str, int]:
    employee, agent = await make_actor(Role.employee), await make_actor(Role.agent)
    return {"employee": employee.user.id, "agent": agent.user.id}


@pytest.fixture
async def seeded(conn, people) -> Seeded:
    return await seed_tickets(conn, requester_id=people["employee"], agent_id=people["agent"])


def period(seeded: Seeded, **extra) -> Period:
    return Period.model_validate({"from": "2019-03-04", "to": "2019-03-17", "team": seeded.team} | extra)


def periods(seeded: Seeded) -> list[Period]:
    cat_a, cat_b = seeded.categories
    return [period(seeded), period(seeded, granularity="week"), period(seeded, category=cat_a),
            period(seeded, category=cat_b, granularity="week"), period(seeded, **{"from": "2019-03-06"}),
            period(seeded, **{"from": "2019-03-11"}), Period.model_validate({"from": "2019-03-05", "to": "2019-03-12"})]


async def test_rolled_up_metrics_equal_the_live_ones(conn, seeded) -> None:
    await rollups.refresh(conn)
    st = await rollups.state(conn)
    assert st is not None and not set(seeded.tickets.values()) & set(await rollups.touched(conn, st))
    row = await durations_row(conn, seeded.tickets["A"])  # Fri 16:00 -> Mon 10:00: 2 business hours
    assert row is not None and (row["respond_business_s"], row["resolve_business_s"]) == (1800.0, 7200.0)
    # the known values (test_analytics_service.py), now read from the rollups
    assert (await service.backlog(conn, period(seeded)))["open"] == [0, 1, 2, 1, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1]
    mttr = await service.mttr(conn, period(seeded))
    assert (mttr["tickets"], mttr["mean_hours"], mttr["median_hours"]) == (3, 8.0, 10.0)
    assert (await service.fcr(conn, period(seeded)))["first_contact"] == 1  # A
    assert [(await durations_row(conn, seeded.tickets[k]))["first_contact"] for k in "ABD"] == [True, False, False]
    await assert_rolled_is_live(conn, *periods(seeded))


async def test_a_reopen_after_the_refresh_counts_at_once_and_after_the_next(conn, seeded, people) -> None:
    await rollups.refresh(conn)
    before = await service.backlog(conn, period(seeded))
    await change(conn, seeded.tickets["A"], people["employee"], at(12, 9), kind="status_changed",
                 before={"status": "resolved"}, after={"status": "in_progress"},
                 columns={"status": "in_progress", "resolved_at": None})
    reopened = await service.backlog(conn, period(seeded))
    assert reopened["open"] == before["open"][:8] + [2] * 6  # A open again from Tue 12th
    assert (await service.mttr(conn, period(seeded)))["tickets"] == 2
    assert await service.fcr(conn, period(seeded)) == {"resolved": 2, "first_contact": 0, "rate": 0.0}
    await assert_rolled_is_live(conn, *periods(seeded))
    await rollups.refresh(conn)
    assert (await service.backlog(conn, period(seeded)))["open"] == reopened["open"]
    await assert_rolled_is_live(conn, *periods(seeded))


async def test_a_new_ticket_and_a_response_after_the_refresh_count(conn, seeded, people) -> None:
    await rollups.refresh(conn)
    await change(conn, seeded.tickets["C"], people["agent"], at(6, 15), kind="assigned",
                 before={"assignee_id": None}, after={"assignee_id": people["agent"]}, columns={})
    mtta = await service.mtta(conn, period(seeded))
    assert (mtta["tickets"], mtta["median_hours"]) == (4, 1.0)  # C: Wed 12:00 -> 15:00, 3h
    await assert_rolled_is_live(conn, *periods(seeded))
    more = await seed_tickets(conn, requester_id=people["employee"], agent_id=people["agent"])
    assert (await service.backlog(conn, period(more)))["open"][-1] == 1
    await assert_rolled_is_live(conn, *periods(more))
    await rollups.refresh(conn)
    await assert_rolled_is_live(conn, *periods(seeded), *periods(more))


async def test_a_ticket_moved_to_another_category_moves_its_backlog(conn, seeded, people) -> None:
    await rollups.refresh(conn)
    cat_a, cat_b = seeded.categories
    ids = {r["slug"]: r["id"] for r in await (await conn.execute(
        "SELECT id, slug FROM categories WHERE slug = ANY(%s)", ([cat_a, cat_b],))).fetchall()}
    await change(conn, seeded.tickets["C"], people["agent"], at(13, 9), kind="updated",
                 before={"category_id": ids[cat_a]}, after={"category_id": ids[cat_b]},
                 columns={"category_id": ids[cat_b]})
    assert (await service.backlog(conn, period(seeded, category=cat_b)))["open"][-1] == 1  # C, still new
    await assert_rolled_is_live(conn, *periods(seeded))
    await rollups.refresh(conn)
    await assert_rolled_is_live(conn, *periods(seeded))


async def test_refreshing_twice_changes_nothing(conn, seeded) -> None:
    first = await rollups.refresh(conn)
    rows = {k: await durations_row(conn, t) for k, t in seeded.tickets.items()}
    backlog = await backlog_rows(conn, seeded.team)
    assert sum(r["open_delta"] for r in backlog) == 1  # four created, three resolved (B twice, reopened once)
    second = await rollups.refresh(conn)
    assert second["tickets"] == 0 and second["event_upto"] >= first["event_upto"]
    assert {k: await durations_row(conn, t) for k, t in seeded.tickets.items()} == rows
    assert await backlog_rows(conn, seeded.team) == backlog
    await assert_rolled_is_live(conn, *periods(seeded))


async def test_a_full_refresh_rebuilds_the_same_rollups(conn, seeded) -> None:
    await rollups.refresh(conn)
    backlog = await backlog_rows(conn, seeded.team)
    done = await rollups.refresh(conn, full=True)
    assert done["tickets"] >= 4 and await backlog_rows(conn, seeded.team) == backlog
    await assert_rolled_is_live(conn, *periods(seeded))


async def test_an_edited_calendar_counts_at_once_and_the_next_refresh_counts_again(conn, seeded) -> None:
    await rollups.refresh(conn)
    hours = {d: [["08:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}
    await conn.execute("UPDATE business_calendars SET hours = %s WHERE id = (SELECT tc.calendar_id FROM team_calendars "
                       "tc JOIN teams t ON t.id = tc.team_id WHERE t.slug = %s)", (Jsonb(hours), seeded.team))
    only_a = period(seeded, **{"from": "2019-03-11"})
    assert (await service.mttr(conn, only_a))["mean_hours"] == 3.0  # A: Fri 16-17 + Mon 08-10
    await assert_rolled_is_live(conn, *periods(seeded))
    await rollups.refresh(conn)
    assert (await durations_row(conn, seeded.tickets["A"]))["resolve_business_s"] == 3 * 3600.0  # type: ignore[index]
    await assert_rolled_is_live(conn, *periods(seeded))


async def test_a_change_without_an_event_is_rolled_up_by_the_next_refresh(conn, seeded) -> None:
    await rollups.refresh(conn)
    cat_b = (await (await conn.execute("SELECT id FROM categories WHERE slug = %s", (seeded.categories[1],)))
             .fetchone())["id"]  # type: ignore[index]
    await conn.execute("UPDATE tickets SET category_id = %s WHERE id = %s", (cat_b, seeded.tickets["C"]))
    await rollups.refresh(conn)
    assert (await durations_row(conn, seeded.tickets["C"]))["category_id"] == cat_b  # type: ignore[index]
    assert (await service.backlog(conn, period(seeded, category=seeded.categories[1])))["open"][-1] == 1
    await assert_rolled_is_live(conn, *periods(seeded))


async def test_a_refresh_waits_for_the_transactions_writing_when_it_starts(conn, database_url, seeded, people,
                                                                          monkeypatch, caplog) -> None:
    """An event written before the refresh reads the newest id but committed after must not fall under the
    watermark unread: the refresh waits for that writer (here it does not commit in time: the refresh says so)."""
    monkeypatch.setattr(rollups, "WRITERS_WAIT_S", 0.5)
    async with await psycopg.AsyncConnection.connect(database_url) as writer:
        async with writer.transaction():
            cur = await writer.execute(
                "INSERT INTO ticket_events (ticket_id, actor_id, kind, before, after, created_at) "
                "VALUES (%s, %s, 'assigned', '{}', '{}', now()) RETURNING id", (seeded.tickets["C"], people["agent"]))
            event = (await cur.fetchone())[0]  # type: ignore[index]
            with caplog.at_level("WARNING", logger="api.analytics.rollups"):
                await rollups.refresh(conn)
            assert "still writing" in caplog.text
    await assert_rolled_is_live(conn, *periods(seeded))  # committed now, after the watermark: computed live
    await rollups.refresh(conn)
    assert (await durations_row(conn, seeded.tickets["C"]))["rolled_upto"] >= event  # type: ignore[index]
    await assert_rolled_is_live(conn, *periods(seeded))
