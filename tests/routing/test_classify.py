"""Classification: nearest neighbours over examples and category descriptions with the KB's MiniLM
embeddings, urgency cues, VIP requesters, chat intents, and corrections that become examples."""

from __future__ import annotations

import uuid

import pytest
from fakes.triage import drain, worker_settings

from api.auth.models import Role
from api.kb.embedding import get_embedder
from api.routing import classify


async def _classify(conn, settings, title: str, *, description: str = "", vip: bool = False, metadata=None,
                    urgency=3, impact=3):
    return await classify.classify(conn, embedder=get_embedder(settings), title=title, description=description,
                                   urgency=urgency, impact=impact, vip=vip, metadata=metadata or {})


@pytest.mark.parametrize(("title", "category"), [
    ("The printer on the fourth floor keeps jamming", "printing"),
    ("Can you install Adobe Acrobat on my laptop please", "software"),
    ("I clicked a link in a weird email and now my PC shows a ransom note", "security"),
    ("My home internet works but the company VPN will not connect", "network"),
])
async def test_nearest_neighbours_find_the_category_with_confidence(conn, settings, title, category):
    result = await _classify(conn, settings, title)
    assert result.category == category, result.neighbours[:3]
    assert 0.4 < result.confidence <= 1
    assert result.neighbours[0].category == category and result.neighbours[0].similarity > 0.3


async def test_gibberish_is_not_confidently_anything(conn, settings):
    result = await _classify(conn, settings, "qwxz blorp frandle")
    assert result.confidence < 0.35  # below DESKMATE_TRIAGE_MIN_CONFIDENCE: the category stays unset


@pytest.mark.parametrize(("text", "urgency", "impact", "cues"), [
    ("Production is down for everyone in the warehouse", 1, 1, ["everyone", "production down"]),
    ("I can't work, my laptop won't start", 1, 3, ["can't work"]),
    ("The whole team cannot open SharePoint", 3, 1, ["everyone"]),
    ("Please change my desk phone ringtone", 3, 3, []),
])
def test_urgency_cues(text, urgency, impact, cues):
    assert classify.urgency_impact(text, urgency=3, impact=3, vip=False) == (urgency, impact, cues)


def test_vip_requesters_are_one_urgency_level_higher_and_cues_never_lower_a_level():
    assert classify.urgency_impact("Printer out of toner", urgency=3, impact=3, vip=True) == (2, 3, ["VIP requester"])
    assert classify.urgency_impact("Printer out of toner", urgency=1, impact=2, vip=True) == (1, 2, ["VIP requester"])
    assert classify.urgency_impact("outage!", urgency=1, impact=1, vip=False)[:2] == (1, 1)


async def test_the_chat_intent_decides_when_the_text_says_little(conn, settings):
    vague = await _classify(conn, settings, "It stopped working again")
    told = await _classify(conn, settings, "It stopped working again", metadata={"intent": "printer_problem", "confidence": 0.93})
    assert (told.category, told.intent, told.intent_category) == ("printing", "printer_problem", "printing")
    assert told.confidence > vague.confidence
    agree = await _classify(conn, settings, "Printer jams", metadata={"intent": "printer_problem", "confidence": 0.9})
    alone = await _classify(conn, settings, "Printer jams")
    assert agree.category == alone.category == "printing" and agree.confidence >= alone.confidence
    unknown = await _classify(conn, settings, "Printer jams", metadata={"intent": "greet"})
    assert unknown.intent_category is None and unknown.category == "printing"


async def test_a_corrected_category_becomes_a_labelled_example(client, conn, settings, make_actor):
    marker = uuid.uuid4().hex[:6]
    title = f"Meeting room {marker} wall display shows no picture from the laptop"
    employee, admin = await make_actor(), await make_actor(Role.admin)
    ticket = (await client.post("/api/v1/tickets", json={"title": title}, headers=employee.headers)).json()
    ws = worker_settings(settings)
    await drain(ws, queues=["triage"])
    before = await _classify(conn, settings, title)
    assert before.category != "email"
    r = await client.patch(f"/api/v1/tickets/{ticket['id']}", json={"category": "email"}, headers=admin.headers)
    assert r.status_code == 200
    await drain(ws, queues=["triage"])
    example = await (await conn.execute(
        "SELECT c.slug, e.source, e.created_by FROM classification_examples e JOIN categories c ON c.id = e.category_id "
        "WHERE e.ticket_id = %s", (ticket["id"],))).fetchone()
    assert example == {"slug": "email", "source": "correction", "created_by": admin.user.id}
    after = await _classify(conn, settings, title)
    assert after.category == "email" and after.neighbours[0].similarity > 0.99
    feedback = (await client.get("/api/v1/routing/feedback", params={"ticket_id": ticket["id"]},
                                 headers=admin.headers)).json()
    assert [f["kind"] for f in feedback] == ["recategorised"]
