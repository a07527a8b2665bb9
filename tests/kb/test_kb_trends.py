"""KB trends: unanswered questions and uncovered tickets clustered into suggestions; approve and dismiss;
related articles for a ticket."""

from __future__ import annotations

import pytest

from api.auth.models import Role

pytestmark = pytest.mark.asyncio

PARKING_QUESTIONS = ["how do i get a parking permit for the office garage",
                     "where do i apply for a car parking permit",
                     "parking permit for the staff car park"]
PARKING_TICKETS = [("Need a parking permit", "I started on Monday and have no permit for the staff car park."),
                   ("Car park permit expired", "My parking permit for the garage ran out, how do I renew it?")]
LOCKER_QUESTIONS = ["how do i get a locker in the gym changing room", "gym locker key request"]


async def _ask(client, actor, question):
    r = await client.post("/api/v1/kb/answer", json={"question": question}, headers=actor.headers)
    assert r.status_code == 200 and r.json()["confident"] is False, r.text
    return r.json()["answer_id"]


async def _trends(client, actor):
    """Refreshes the suggestions (POST) and returns the caller's view of the trends."""
    r = await client.post("/api/v1/kb/trends/suggestions", params={"days": 1}, headers=actor.headers)
    assert r.status_code == 200, r.text
    return r.json()


async def _view(client, actor, **params):
    r = await client.get("/api/v1/kb/trends", params={"days": 1, **params}, headers=actor.headers)
    assert r.status_code == 200, r.text
    return r.json()


async def _ticket(client, actor, title, description, **fields):
    r = await client.post("/api/v1/tickets", json={"title": title, "description": description, **fields},
                          headers=actor.headers)
    assert r.status_code == 201, r.text
    return r.json()


def _cluster_with(trends, answer_id):
    return next((c for c in trends["clusters"] if answer_id in c["answer_ids"]), None)


async def test_trends_cluster_questions_and_tickets_then_approve(kb_client, make_actor):
    employee, agent, admin = await make_actor(), await make_actor(Role.agent), await make_actor(Role.admin)
    # different people ask: agents see employees' questions only in clusters several people asked
    parking = [await _ask(kb_client, await make_actor(), q) for q in PARKING_QUESTIONS]
    lockers = [await _ask(kb_client, await make_actor(), q) for q in LOCKER_QUESTIONS]
    tickets = []
    for title, description in PARKING_TICKETS:
        r = await kb_client.post("/api/v1/tickets", json={"title": title, "description": description},
                                 headers=employee.headers)
        assert r.status_code == 201, r.text
        tickets.append(r.json()["id"])

    assert (await kb_client.get("/api/v1/kb/trends", headers=employee.headers)).status_code == 403
    trends = await _trends(kb_client, agent)
    cluster = _cluster_with(trends, parking[0])
    assert cluster is not None
    assert set(parking) <= set(cluster["answer_ids"]) and set(tickets) <= set(cluster["ticket_ids"])
    assert not set(lockers) & set(cluster["answer_ids"])  # another topic, another cluster
    assert cluster["size"] == len(cluster["answer_ids"]) + len(cluster["ticket_ids"]) >= 5
    assert "parking" in cluster["suggested_title"].lower() and "parking" in cluster["keywords"]
    assert 1 <= len(cluster["questions"]) <= 5 and all(isinstance(q, str) for q in cluster["questions"])
    locker_cluster = _cluster_with(trends, lockers[0])
    assert locker_cluster is not None and set(lockers) <= set(locker_cluster["answer_ids"])
    sizes = [c["size"] for c in trends["clusters"]]
    assert sizes == sorted(sizes, reverse=True) and min(sizes) >= 2

    again = await _trends(kb_client, agent)
    assert _cluster_with(again, parking[0])["suggestion_id"] == cluster["suggestion_id"]  # stable id

    r = await kb_client.post(f"/api/v1/kb/suggestions/{cluster['suggestion_id']}/approve", headers=agent.headers)
    assert r.status_code == 200, r.text
    approved = r.json()
    assert approved["status"] == "approved" and approved["decided_by"] == agent.user.id
    draft = (await kb_client.get(f"/api/v1/kb/articles/{approved['article_id']}", headers=admin.headers)).json()
    assert draft["status"] == "draft" and draft["title"] == cluster["suggested_title"]
    assert all(q in draft["body"] for q in cluster["questions"])
    assert (await kb_client.get(f"/api/v1/kb/articles/{approved['article_id']}",
                                headers=employee.headers)).status_code == 404
    twice = await kb_client.post(f"/api/v1/kb/suggestions/{cluster['suggestion_id']}/approve", headers=agent.headers)
    assert twice.status_code == 409

    after = await _trends(kb_client, agent)
    assert _cluster_with(after, parking[0]) is None  # decided: not suggested again
    assert not any(set(tickets) & set(c["ticket_ids"]) for c in after["clusters"])

    locker_id = _cluster_with(after, lockers[0])["suggestion_id"]
    r = await kb_client.post(f"/api/v1/kb/suggestions/{locker_id}/dismiss", headers=agent.headers)
    assert r.status_code == 200 and r.json()["status"] == "dismissed" and r.json()["article_id"] is None
    assert _cluster_with(await _trends(kb_client, agent), lockers[0]) is None
    await kb_client.delete(f"/api/v1/kb/articles/{approved['article_id']}", headers=admin.headers)


def _all_ticket_ids(trends):
    return {t for c in trends["clusters"] for t in c["ticket_ids"]}


def _all_answer_ids(trends):
    return {a for c in trends["clusters"] for a in c["answer_ids"]}


async def _count(conn, table):
    return (await (await conn.execute(f"SELECT count(*) AS n FROM {table}")).fetchone())["n"]


async def test_looking_at_trends_writes_nothing(kb_client, make_actor, conn):
    employee, agent, admin = await make_actor(), await make_actor(Role.agent), await make_actor(Role.admin)
    ticket = await _ticket(kb_client, employee, "The aquarium in the lobby has a cracked glass wall",
                           "Water is dripping from the fish tank in the entrance hall.")
    before = {t: await _count(conn, t) for t in ("kb_suggestions", "kb_ticket_vectors")}
    for viewer in (agent, admin):
        await _view(kb_client, viewer)
    assert {t: await _count(conn, t) for t in before} == before
    embedded = await (await conn.execute("SELECT 1 FROM kb_ticket_vectors WHERE ticket_id = %s",
                                         (ticket["id"],))).fetchone()
    assert embedded is None, "a GET embedded and cached a ticket"
    assert (await kb_client.post("/api/v1/kb/trends/suggestions", headers=employee.headers)).status_code == 403
    await _trends(kb_client, agent)  # the explicit refresh embeds it
    assert await (await conn.execute("SELECT 1 FROM kb_ticket_vectors WHERE ticket_id = %s",
                                     (ticket["id"],))).fetchone()


async def test_agents_see_only_their_teams_tickets(kb_client, make_actor, make_team):
    team_a, team_b = await make_team(), await make_team()
    agent_a, agent_b = await make_actor(Role.agent, teams=(team_a,)), await make_actor(Role.agent, teams=(team_b,))
    admin, employee = await make_actor(Role.admin), await make_actor()
    titles = ["The standing desk motor hums but the desk will not rise",
              "My height adjustable standing desk is stuck at sitting height"]
    ids = []
    for title in titles:
        ticket = await _ticket(kb_client, employee, title, "The electric standing desk stopped moving.")
        r = await kb_client.post(f"/api/v1/tickets/{ticket['id']}/assign",
                                 json={"assignee_id": agent_a.user.id, "team": team_a}, headers=admin.headers)
        assert r.status_code == 200, r.text
        ids.append(ticket["id"])

    everything = await _trends(kb_client, admin)
    assert set(ids) <= _all_ticket_ids(everything)
    team_view = await _view(kb_client, agent_a)
    assert set(ids) <= _all_ticket_ids(team_view)
    other_view = await _view(kb_client, agent_b)
    assert not set(ids) & _all_ticket_ids(other_view)
    assert not {q for c in other_view["clusters"] for q in c["questions"]} & set(titles), "another team's titles"

    suggestion = next(c["suggestion_id"] for c in everything["clusters"] if set(ids) <= set(c["ticket_ids"]))
    hidden = await kb_client.post(f"/api/v1/kb/suggestions/{suggestion}/dismiss", headers=agent_b.headers)
    assert hidden.status_code == 404
    r = await kb_client.post(f"/api/v1/kb/suggestions/{suggestion}/dismiss", headers=agent_a.headers)
    assert r.status_code == 200 and set(r.json()["ticket_ids"]) == set(ids)


async def test_one_persons_questions_are_never_shown_to_agents(kb_client, make_actor):
    asker, agent, admin = await make_actor(), await make_actor(Role.agent), await make_actor(Role.admin)
    mine = [await _ask(kb_client, asker, q) for q in ("can i bring my dog to the office on fridays",
                                                      "is my dog allowed in the office on a friday")]
    everything = await _view(kb_client, admin)
    assert set(mine) <= _all_answer_ids(everything)
    agents = await _view(kb_client, agent)
    assert not set(mine) & _all_answer_ids(agents)
    assert not any("dog" in q for c in agents["clusters"] for q in c["questions"])

    other = await _ask(kb_client, await make_actor(), "may dogs come to the office on fridays")
    together = await _view(kb_client, agent)  # two people asked: now an aggregate agents may see
    assert set(mine) | {other} <= _all_answer_ids(together)


async def test_a_single_ticket_is_no_cluster_for_agents(kb_client, make_actor):
    employee, agent, admin = await make_actor(), await make_actor(Role.agent), await make_actor(Role.admin)
    ticket = await _ticket(kb_client, employee, "The piano in the canteen is out of tune",
                           "Someone should tune the canteen piano before the party.")
    await _trends(kb_client, admin)
    assert ticket["id"] in _all_ticket_ids(await _view(kb_client, admin, min_size=1))
    agents = await _view(kb_client, agent, min_size=1)
    assert ticket["id"] not in _all_ticket_ids(agents)
    assert all(c["size"] >= 2 for c in agents["clusters"])


async def test_approving_needs_staff_and_an_existing_suggestion(kb_client, make_actor):
    employee, agent = await make_actor(), await make_actor(Role.agent)
    assert (await kb_client.post("/api/v1/kb/suggestions/1/approve", headers=employee.headers)).status_code == 403
    assert (await kb_client.post("/api/v1/kb/suggestions/999999/approve", headers=agent.headers)).status_code == 404


async def test_related_articles_for_a_ticket(kb_client, make_actor):
    employee, stranger, agent = await make_actor(), await make_actor(), await make_actor(Role.agent)
    r = await kb_client.post("/api/v1/tickets", json={
        "title": "GlobalProtect keeps disconnecting", "description": "The VPN drops every ten minutes at home."},
        headers=employee.headers)
    ticket = r.json()
    for viewer in (employee, agent):
        related = await kb_client.get(f"/api/v1/kb/suggestions/{ticket['number']}", headers=viewer.headers)
        assert related.status_code == 200, related.text
        body = related.json()
        assert body["ticket_id"] == ticket["id"] and body["results"][0]["article_id"] == "kb-vpn-troubleshooting"
    hidden = await kb_client.get(f"/api/v1/kb/suggestions/{ticket['id']}", headers=stranger.headers)
    assert hidden.status_code == 404
