"""The gateway's intent hints (api/chat/hints.py) and the rule Rasa combines them with (bot/nlu_hint.py)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from api.chat import hints as hints_mod
from api.chat.hints import Hinter, IntentHints, build
from api.chat.nlu_eval import Example
from api.chat.rasa import RasaClient
from bot.nlu_hint import HINT_KEY, combine, hint_ranking

SMALL = [Example(t, "printer_problem") for t in (
    "the printer is jammed", "my print job never comes out", "printer shows offline", "toner is empty on floor 2")] + \
    [Example(t, "out_of_scope") for t in (
        "set an alarm for six", "play some jazz", "what's the weather tomorrow", "order a pizza for lunch")] + \
    [Example(t, "greet") for t in ("hello there", "good morning", "hi!", "hey deskmate")]


def test_without_a_hint_diet_decides():
    diet = [{"name": "greet", "confidence": 0.7}, {"name": "thank", "confidence": 0.3}]
    assert combine(diet, [], weight=0.6) == diet
    assert combine(diet, [{"name": "thank", "confidence": 1.0}], weight=0.0) == diet


def test_the_hint_is_mixed_per_intent_and_best_comes_first():
    diet = [{"name": "out_of_scope", "confidence": 0.55}, {"name": "printer_problem", "confidence": 0.25}]
    hint = [{"name": "printer_problem", "confidence": 0.9}, {"name": "out_of_scope", "confidence": 0.05}]
    ranking = combine(diet, hint, weight=0.6)
    assert [r["name"] for r in ranking] == ["printer_problem", "out_of_scope"]
    assert ranking[0]["confidence"] == pytest.approx(0.4 * 0.25 + 0.6 * 0.9)
    assert ranking[1]["confidence"] == pytest.approx(0.4 * 0.55 + 0.6 * 0.05)


@pytest.mark.parametrize("metadata", [None, "x", {}, {HINT_KEY: None}, {HINT_KEY: {"ranking": "x"}},
                                      {HINT_KEY: {"ranking": [{"name": 3, "confidence": 1}, {"confidence": 0.5}]}}])
def test_a_malformed_hint_is_no_hint(metadata):
    assert hint_ranking(metadata) == []


def test_hint_confidences_are_clamped():
    assert hint_ranking({HINT_KEY: {"ranking": [{"name": "greet", "confidence": 7}]}}) == [
        {"name": "greet", "confidence": 1.0}]


@pytest.fixture(scope="module")
def embedder():
    from kb_index import Embedder
    return Embedder(batch_size=16)


def test_the_classifier_ranks_paraphrases_and_survives_a_round_trip(embedder, tmp_path):
    hints = build(embedder, examples=SMALL, cache_dir=tmp_path)
    top = hints.rank(np.asarray(embedder.embed_query("nothing comes out of the printer on the 3rd floor")))
    assert top[0]["name"] == "printer_problem" and top[0]["confidence"] > 0.5
    assert sum(r["confidence"] for r in top) == pytest.approx(1.0, abs=0.01)
    assert hints.rank(np.asarray(embedder.embed_query("remind me to water the plants")))[0]["name"] == "out_of_scope"
    (path,) = tmp_path.glob("nlu-hints-*.npz")
    again = IntentHints.load(path)
    assert again.labels == hints.labels and again.version == hints.version
    assert np.allclose(again.weights, hints.weights)


def test_the_classifier_is_cached_per_version_of_the_data(embedder, tmp_path, monkeypatch):
    first = build(embedder, examples=SMALL, cache_dir=tmp_path)
    monkeypatch.setattr(embedder, "embed", lambda texts: pytest.fail("the cached classifier was not used"))
    assert build(embedder, examples=SMALL, cache_dir=tmp_path).version == first.version
    changed = [*SMALL, Example("wifi drops every minute", "wifi_problem")]
    assert hints_mod.data_hash(changed, embedder.name) != first.version


async def test_button_payloads_and_empty_texts_get_no_hint(embedder, tmp_path):
    hinter = Hinter(embedder)
    hinter._hints = build(embedder, examples=SMALL, cache_dir=tmp_path)
    assert await hinter.hint("/affirm") is None and await hinter.hint("   ") is None
    assert await Hinter(embedder, enabled=False).hint("the printer is jammed") is None
    hint = await hinter.hint("my printer is jammed again")
    assert hint is not None and hint["version"] == hinter._hints.version
    assert hint["ranking"][0]["name"] == "printer_problem"


async def test_every_turn_and_parse_carry_the_hint(rasa, embedder, tmp_path):
    import httpx
    hinter = Hinter(embedder)
    hinter._hints = build(embedder, examples=SMALL, cache_dir=tmp_path)
    client = RasaClient("http://rasa.test", channel_secret=rasa.secret, transport=httpx.MockTransport(rasa.handler),
                        hinter=hinter)
    try:
        await client.send(sender="c1", text="the printer is jammed", metadata={"conversation_id": "c1"})
        await client.parse("good morning!")
    finally:
        await client.aclose()
    turn, parse = rasa.received[-2:]
    assert turn["metadata"]["conversation_id"] == "c1"
    assert turn["metadata"][HINT_KEY]["ranking"][0]["name"] == "printer_problem"
    assert parse["parse"] == "good morning!" and parse["metadata"][HINT_KEY]["ranking"][0]["name"] == "greet"


def test_the_shipped_training_data_builds(embedder, tmp_path):
    """data/nlu loads, and every intent of the domain has examples (the hints and DIET see the same labels)."""
    import yaml
    examples = hints_mod.training_examples()
    domain = yaml.safe_load((hints_mod.REPO_ROOT / "bot" / "domain.yml").read_text())
    assert {e.intent for e in examples} <= set(domain["intents"])
    assert len({e.text.lower() for e in examples}) == len(examples), "duplicate training examples"


def test_no_training_example_is_an_evaluation_sentence():
    """Evaluation text never trains the bot: not our realistic set, not hwu64, not the helpdesk set."""
    import csv

    from api.chat import nlu_eval
    training = {e.text.lower().strip() for e in hints_mod.training_examples()}
    realistic = {c.text.lower().strip() for c in nlu_eval.load_realistic(hints_mod.REPO_ROOT / "data/eval/realistic")}
    assert not training & realistic
    hwu64 = hints_mod.REPO_ROOT.parent / "shared" / "eval" / "hwu64" / "utterances.csv"
    if hwu64.exists():
        with hwu64.open(encoding="utf-8", newline="") as handle:
            rows = {row["text"].strip().lower() for row in csv.DictReader(handle)}
        assert not training & rows


def test_warming_up_loads_the_classifier_before_the_first_turn(embedder, tmp_path, monkeypatch):
    monkeypatch.setattr(hints_mod, "CACHE_DIR", tmp_path)
    small = build(embedder, examples=SMALL, cache_dir=tmp_path)
    monkeypatch.setattr(hints_mod, "build", lambda e, **_: small)
    hinter = Hinter(embedder)
    thread = hinter.warm_up()
    assert thread is not None
    assert not hinter.ready or not thread.is_alive()
    thread.join(timeout=120)
    assert hinter._hints is small and hinter.ready
    assert Hinter(embedder, enabled=False).warm_up() is None and Hinter(embedder, enabled=False).ready


# a new phrase for printer_problem: weather charts from a plotter, which the small set reads as small talk on weather
PLOTTER = [Example(t, "printer_problem") for t in (
    "the weather charts come out striped", "radar maps print with streaks", "the forecast sheets come out smudged")]


async def test_a_hinter_follows_new_examples_and_serves_the_old_hints_until_the_new_ones_are_fitted(
        embedder, tmp_path, monkeypatch):
    monkeypatch.setattr(hints_mod, "training_examples", lambda: SMALL)
    hinter = Hinter(embedder)
    hinter._hints = build(embedder, examples=SMALL, cache_dir=tmp_path)
    allowed = threading.Event()

    def fit_when_allowed(e, *, examples):
        allowed.wait(timeout=300)
        return build(e, examples=examples, cache_dir=tmp_path)

    monkeypatch.setattr(hints_mod, "build", fit_when_allowed)
    before = await hinter.hint("the forecast map is streaky")
    assert before is not None and before["ranking"][0]["name"] == "out_of_scope"

    fitting = hinter.follow(PLOTTER)
    assert fitting is not None and hinter.follow(PLOTTER) is None  # already following them
    assert await hinter.hint("the forecast map is streaky") == before and hinter.ready  # the old hints serve meanwhile
    allowed.set()
    fitting.join(timeout=300)
    after = await hinter.hint("the forecast map is streaky")
    assert after is not None and after["ranking"][0]["name"] == "printer_problem"
    assert after["version"] == hints_mod.data_hash(SMALL + PLOTTER, embedder.name) != before["version"]
    weather = await hinter.hint("what's the weather on saturday")
    assert weather is not None and weather["ranking"][0]["name"] == "out_of_scope"

    back = hinter.follow([])  # the promoted model without them (a rollback): back to the first hints
    assert back is not None
    back.join(timeout=300)
    assert await hinter.hint("the forecast map is streaky") == before
    assert Hinter(embedder, enabled=False).follow(PLOTTER) is None


async def test_hints_that_cannot_be_fitted_leave_the_current_ones(embedder, tmp_path, monkeypatch, caplog):
    hinter = Hinter(embedder)
    hinter._hints = build(embedder, examples=SMALL, cache_dir=tmp_path)
    before = await hinter.hint("my printer is jammed again")

    def read_only(e, *, examples):
        raise OSError("read-only file system")

    monkeypatch.setattr(hints_mod, "build", read_only)
    fitting = hinter.follow(PLOTTER)
    assert fitting is not None
    fitting.join(timeout=300)
    assert await hinter.hint("my printer is jammed again") == before and hinter.extra == PLOTTER
    assert "could not fit the intent hints on 3 more examples" in caplog.text


class Recording:
    """The real embedder, noting every text it is asked to embed as a query."""

    def __init__(self, embedder) -> None:
        self.embedder, self.texts = embedder, []

    async def aembed_query(self, text: str):
        self.texts.append(text)
        return await self.embedder.aembed_query(text)


async def test_a_gateway_turn_sends_the_hint_and_core_buttons_embed_nothing(app, client, settings, rasa, embedder,
                                                                            tmp_path):
    import httpx
    from chat_support import start

    recording = Recording(embedder)
    hinter = Hinter(recording)  # type: ignore[arg-type]
    hinter._hints = build(embedder, examples=SMALL, cache_dir=tmp_path)
    app.state.rasa = RasaClient("http://rasa.test", channel_secret=rasa.secret,
                                transport=httpx.MockTransport(rasa.handler), hinter=hinter)
    conv, session, _ = await start(client, settings)
    r = await client.post(f"/api/v1/chat/conversations/{conv}/messages", json={"text": "the printer is jammed"},
                          headers=session)
    assert r.status_code == 200, r.text
    assert rasa.received[-1]["metadata"][HINT_KEY]["ranking"][0]["name"] == "printer_problem"
    assert recording.texts == ["the printer is jammed"]  # once: computed beside the database work, not twice
    r = await client.post(f"/api/v1/chat/conversations/{conv}/messages", json={"text": "deskmate:kb_helpful:12345"},
                          headers=session)
    assert r.status_code == 200, r.text  # answered by the core (no such answer: the apology), never by Rasa
    assert recording.texts == ["the printer is jammed"] and len(rasa.received) == 1
