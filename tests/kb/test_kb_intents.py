"""The intent map and the intent boost of POST /kb/answer; best_score, the in-domain signal for the gateway."""

from __future__ import annotations

import pytest
from kb import support

import kb_index
from api.kb import intents, service
from api.settings import get_settings


def test_the_shipped_map_loads_and_names_only_categories_and_tags_the_demo_kb_has():
    boosts = intents.load(support.KB_DIR / "intents.yml")
    articles = kb_index.load_dir(support.KB_DIR)
    categories = {a.category for a in articles}
    tags = {t for a in articles for t in a.tags}
    assert {"printer_problem", "vpn_problem", "password_reset", "ask_question"} <= set(boosts)
    for name, boost in boosts.items():
        assert boost.categories <= categories, name
        assert boost.tags <= tags, name
    assert not (boosts["ask_question"].categories or boosts["ask_question"].tags)


@pytest.mark.parametrize("text, message", [
    ("printer_problem: {categories: printing}", "list of non-empty strings"),
    ("printer_problem: {category: [printing]}", "only 'categories' and 'tags'"),
    ("Printer-Problem: {tags: [printer]}", "not an intent name"),
    ("- printer_problem", "mapping of intent names"),
    ("printer_problem: {tags: ['']}", "list of non-empty strings"),
    ("printer_problem: [unclosed", "not valid YAML"),
])
def test_a_malformed_map_is_refused_with_the_reason(text, message):
    with pytest.raises(intents.IntentMapError, match=message):
        intents.parse(text)


async def _answer(client, actor, **body):
    r = await client.post("/api/v1/kb/answer", json=body, headers=actor.headers)
    assert r.status_code == 200, r.text
    return r.json()


async def test_the_right_intent_is_reported_as_matching_with_the_top_score(kb_client, make_actor):
    employee = await make_actor()
    plain = await _answer(kb_client, employee, question="How do I add a printer?")
    boosted = await _answer(kb_client, employee, question="How do I add a printer?", intent="printer_problem")
    assert boosted["citations"][0]["article_id"] == "kb-printer-add"
    assert boosted["intent_match"] is True and plain["intent_match"] is False
    assert 0.35 < boosted["top_score"] <= 1 and boosted["top_score"] == pytest.approx(plain["top_score"])


async def test_a_wrong_intent_only_boosts_and_never_filters(kb_client, make_actor):
    employee = await make_actor()
    wrong = await _answer(kb_client, employee, question="How do I add a printer?", intent="vpn_problem")
    assert wrong["citations"][0]["article_id"] == "kb-printer-add"  # a clear match is not overturned
    assert wrong["intent_match"] is False and wrong["mode"] != "none"
    unknown = await _answer(kb_client, employee, question="How do I add a printer?", intent="greet")
    assert unknown["citations"][0]["article_id"] == "kb-printer-add" and unknown["intent_match"] is False


async def test_a_close_call_goes_to_the_intent(kb_client, make_actor):
    """Two articles are about as close to "a new phone" (scores within 0.01): the intent decides between them."""
    employee = await make_actor()
    question = "I got a new phone, what do I need to set up again for work"
    mfa = await _answer(kb_client, employee, question=question, intent="mfa_problem")
    device = await _answer(kb_client, employee, question=question, intent="hardware_problem")
    assert mfa["citations"][0]["article_id"] == "kb-mfa-new-phone" and mfa["intent_match"] is True
    assert device["citations"][0]["article_id"] == "kb-company-mobile-phone" and device["intent_match"] is True


async def test_an_intent_that_is_not_a_name_is_a_problem(kb_client, make_actor):
    r = await kb_client.post("/api/v1/kb/answer", json={"question": "printer", "intent": "drop table;"},
                             headers=(await make_actor()).headers)
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"


async def test_best_score_separates_it_questions_from_other_requests(conn, embedder, demo_kb):
    await kb_index.register(conn)
    kb = service.Kb(embedder=embedder, llm=None, settings=get_settings())
    it = await service.best_score(conn, kb, text="my outlook stopped receiving new mail since yesterday")
    other = await service.best_score(conn, kb, text="what's a good recipe for banana bread")
    assert it is not None and other is not None
    assert it > get_settings().kb_confident_similarity > other
