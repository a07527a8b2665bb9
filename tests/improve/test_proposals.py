"""Failed turns → clusters → proposals (real Postgres, the real MiniLM embedder; no Rasa)."""

from __future__ import annotations

from datetime import datetime

from improve_support import conversation, escalate, say, unhelpful_answer

from api.auth.models import Role
from api.improve import proposals

LABELS = ["the zebra label printer in shipping spits out blank labels",
          "zebra label printer only prints empty white labels since this morning",
          "blank labels keep coming out of the zebra printer in the warehouse"]
CHAIR = ["can I expense an ergonomic chair for my home office",
         "how do I claim the cost of a home office chair",
         "is a desk chair for working from home reimbursable"]
DOCK = ["the thunderbolt dock at hot desk 14 makes both screens flicker",
        "my two monitors on the thunderbolt dock keep flickering and going black"]


async def _now(conn) -> datetime:
    """The database's clock: failures stored from now on are this test's only ones."""
    return (await (await conn.execute("SELECT clock_timestamp() AS t")).fetchone())["t"]


async def _failures(vconn, make_actor, embedder) -> dict[str, list[int]]:
    """Fallbacks about a label printer, "didn't help" answers about chairs, escalated dock trouble, and noise."""
    employee = await make_actor(Role.employee)
    ids: dict[str, list[int]] = {"labels": [], "dock": [], "handoff": [], "ignored": []}
    for text in LABELS:
        ids["labels"].append(await say(vconn, await conversation(vconn), text, "nlu_fallback", 0.31))
    for text in CHAIR:
        await unhelpful_answer(vconn, embedder, employee.user.id, text)
    for text in DOCK:
        cid = await conversation(vconn, employee.user)
        ids["dock"].append(await say(vconn, cid, text, "ask_question", 0.35))
        await escalate(vconn, cid, category="hardware")
    cid = await conversation(vconn)
    ids["handoff"].append(await say(vconn, cid, "teams screen sharing shows only a black window to others",
                                    "software_problem", 0.91))
    await say(vconn, cid, "let me talk to a real person", "human_handoff", 0.97)
    # not failures: a confident turn without a ticket, an unsure turn without a ticket, a button payload
    cid = await conversation(vconn)
    ids["ignored"].append(await say(vconn, cid, "my zebra label printer prints blank labels", "printer_problem", 0.93))
    ids["ignored"].append(await say(vconn, cid, "the zebra label thing is weird", "hardware_problem", 0.2))
    ids["ignored"].append(await say(vconn, cid, "/affirm", "nlu_fallback", 0.1))
    return ids


async def test_a_pass_proposes_examples_for_the_nearest_intent_and_a_kb_draft_for_unhelpful_answers(
        vconn, make_actor, embedder, settings) -> None:
    since = await _now(vconn)
    ids = await _failures(vconn, make_actor, embedder)
    summary = await proposals.cluster(vconn, settings, embedder, since=since)

    assert summary.failures == 3 + 3 + 2 + 1  # labels, chairs, dock, the turn before the hand-off
    made = [await proposals.get(vconn, proposal_id=pid) for pid in summary.proposals_new]
    by_ids = {tuple(p.message_ids): p for p in made}
    labels = by_ids[tuple(sorted(ids["labels"]))]
    assert (labels.kind, labels.intent, labels.status) == ("examples", "printer_problem", "open")
    assert labels.basis["rule"] == "knn" and labels.basis["share"] >= 0.5
    assert sorted(labels.examples) == sorted(LABELS) and labels.reasons == {"fallback": 3}

    dock = by_ids[tuple(sorted(ids["dock"]))]
    assert dock.kind == "examples" and dock.basis["rule"] == "ticket_category"
    assert dock.basis["category"] == "hardware" and dock.intent in dock.basis["intents"]
    assert dock.reasons == {"escalation": 2} and len(dock.ticket_ids) == 2

    chairs = next(p for p in made if p.answer_ids)
    assert (chairs.kind, chairs.intent, chairs.examples) == ("kb_draft", None, [])
    assert sorted(chairs.texts) == sorted(CHAIR) and chairs.reasons == {"not_helpful": 3}

    clustered = {m for p in made for m in p.message_ids}
    assert not clustered & set(ids["ignored"])
    assert not clustered & set(ids["handoff"])  # a lone failure is no cluster (min size 2)


async def test_the_next_pass_starts_where_the_last_ended_and_merges_into_the_open_proposal(
        vconn, make_actor, embedder, settings) -> None:
    since = await _now(vconn)
    first_ids = [await say(vconn, await conversation(vconn), text, "nlu_fallback", 0.2) for text in (
        "the plotter in the design studio jams on every A1 sheet", "A1 sheets keep jamming in the studio plotter")]
    first = await proposals.cluster(vconn, settings, embedder, since=since)
    assert len(first.proposals_new) == 1
    pid = first.proposals_new[0]

    later = [await say(vconn, await conversation(vconn), text, "nlu_fallback", 0.2) for text in (
        "studio plotter jammed again halfway through an A1 print", "the design plotter eats A1 paper and jams")]
    second = await proposals.cluster(vconn, settings, embedder)  # from the previous pass's end
    assert second.since == first.until and second.failures >= 2
    assert second.proposals_merged == [pid] and pid not in second.proposals_new
    merged = await proposals.get(vconn, proposal_id=pid)
    assert sorted(merged.message_ids) == sorted(first_ids + later) and merged.size == 4
    assert merged.reasons == {"fallback": 4}
