"""The admin's side of the loop over HTTP: list, edit, approve, reject, queue a training (no Rasa)."""

from __future__ import annotations

import pytest
from improve_support import proposal

from api.auth.models import Role
from api.errors import PROBLEM_JSON

BASE = "/api/v1/improve"


@pytest.fixture
async def people(make_actor):
    return {role: await make_actor(role) for role in (Role.admin, Role.agent, Role.employee)}


async def test_agents_read_proposals_admins_decide_and_employees_see_nothing(client, vconn, people) -> None:
    pid = await proposal(vconn, examples=["the label printer prints blank labels"])
    admin, agent, employee = people[Role.admin], people[Role.agent], people[Role.employee]

    listed = await client.get(f"{BASE}/proposals", params={"status": "open", "limit": 200}, headers=agent.headers)
    assert listed.status_code == 200 and pid in [p["id"] for p in listed.json()["items"]]
    assert (await client.get(f"{BASE}/proposals/{pid}", headers=agent.headers)).json()["status"] == "open"
    for method, path in (("PATCH", f"/proposals/{pid}"), ("POST", f"/proposals/{pid}/approve"),
                         ("POST", f"/proposals/{pid}/reject"), ("POST", "/models"), ("POST", "/runs")):
        r = await client.request(method, BASE + path, json={}, headers=agent.headers)
        assert r.status_code == 403 and r.headers["content-type"] == PROBLEM_JSON, (method, path)
    for path in ("/proposals", f"/proposals/{pid}", "/models"):
        assert (await client.get(BASE + path, headers=employee.headers)).status_code == 403
    assert (await client.get(f"{BASE}/proposals/{pid}", headers=admin.headers)).status_code == 200


async def test_an_admin_edits_and_approves_once_and_the_approval_records_who_and_when(client, vconn, people) -> None:
    pid = await proposal(vconn, intent="hardware_problem", examples=["label printer blank", "zebra prints nothing"])
    admin = people[Role.admin]

    bad_intent = await client.patch(f"{BASE}/proposals/{pid}", json={"intent": "make_coffee"}, headers=admin.headers)
    assert bad_intent.status_code == 422 and "make_coffee" in bad_intent.json()["detail"]
    markup = await client.patch(f"{BASE}/proposals/{pid}", json={"examples": ["print [this](entity)"]},
                                headers=admin.headers)
    assert markup.status_code == 422 and markup.headers["content-type"] == PROBLEM_JSON
    unknown_field = await client.patch(f"{BASE}/proposals/{pid}", json={"status": "approved"}, headers=admin.headers)
    assert unknown_field.status_code == 422

    edited = await client.patch(f"{BASE}/proposals/{pid}", headers=admin.headers, json={
        "intent": "printer_problem", "examples": ["the zebra label printer prints  blank labels", "zebra prints nothing",
                                                  "zebra prints nothing"]})
    assert edited.status_code == 200, edited.text
    assert edited.json()["intent"] == "printer_problem"
    assert edited.json()["examples"] == ["the zebra label printer prints blank labels", "zebra prints nothing"]

    approved = await client.post(f"{BASE}/proposals/{pid}/approve", json={"note": "good catch"}, headers=admin.headers)
    assert approved.status_code == 200, approved.text
    body = approved.json()
    assert (body["status"], body["decided_by"], body["note"]) == ("approved", admin.user.id, "good catch")
    assert body["decided_at"] is not None

    again = await client.post(f"{BASE}/proposals/{pid}/approve", headers=admin.headers)
    assert again.status_code == 409 and again.headers["content-type"] == PROBLEM_JSON
    assert (await client.post(f"{BASE}/proposals/{pid}/reject", headers=admin.headers)).status_code == 409
    frozen = await client.patch(f"{BASE}/proposals/{pid}", json={"intent": "greet"}, headers=admin.headers)
    assert frozen.status_code == 409


async def test_rejecting_and_approving_a_kb_draft(client, vconn, people) -> None:
    admin = people[Role.admin]
    rejected_id = await proposal(vconn, examples=["wifi drops"], intent="wifi_problem")
    rejected = await client.post(f"{BASE}/proposals/{rejected_id}/reject", json={"note": "noise"}, headers=admin.headers)
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"

    empty = await proposal(vconn, examples=[], texts=["something"], intent="wifi_problem")
    refused = await client.post(f"{BASE}/proposals/{empty}/approve", headers=admin.headers)
    assert refused.status_code == 422 and "no examples" in refused.json()["detail"]

    texts = ["can I expense a home office chair", "how do I claim a desk chair for home"]
    draft = await proposal(vconn, kind="kb_draft", intent=None, texts=texts)
    approved = await client.post(f"{BASE}/proposals/{draft}/approve", headers=admin.headers)
    assert approved.status_code == 200, approved.text
    article_id = approved.json()["article_id"]
    article = await client.get(f"/api/v1/kb/articles/{article_id}", headers=admin.headers)
    assert article.status_code == 200 and article.json()["status"] == "draft"
    assert all(t in article.json()["body"] for t in texts)


async def test_a_training_is_queued_once(client, vconn, people) -> None:
    admin = people[Role.admin]
    first = await client.post(f"{BASE}/models", headers=admin.headers)
    try:
        assert first.status_code == 202, first.text
        job = await (await vconn.execute("SELECT task_name, queue_name, lock FROM procrastinate_jobs WHERE id = %s",
                                         (first.json()["job_id"],))).fetchone()
        assert job == {"task_name": "improve.train", "queue_name": "improve", "lock": "improve-train"}
        second = await client.post(f"{BASE}/models", headers=admin.headers)
        assert second.status_code == 409 and second.headers["content-type"] == PROBLEM_JSON
    finally:
        if first.status_code == 202:
            await vconn.execute("DELETE FROM procrastinate_jobs WHERE id = %s", (first.json()["job_id"],))


async def test_unknown_models_and_proposals_are_404(client, people) -> None:
    admin = people[Role.admin]
    assert (await client.get(f"{BASE}/models/20990101-000000-deadbeef", headers=admin.headers)).status_code == 404
    r = await client.post(f"{BASE}/models/20990101-000000-deadbeef/promote", headers=admin.headers)
    assert r.status_code == 404 and r.headers["content-type"] == PROBLEM_JSON
    assert (await client.get(f"{BASE}/proposals/999999999", headers=admin.headers)).status_code == 404
    assert (await client.get(f"{BASE}/proposals", params={"status": "nope"}, headers=admin.headers)).status_code == 422
