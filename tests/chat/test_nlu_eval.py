"""NLU evaluation: YAML reading with entity markup and label maps, the metrics, and the per-group suite."""

from __future__ import annotations

import csv
import textwrap
from pathlib import Path

import pytest
import yaml

from api.chat import nlu_eval
from api.chat.nlu_eval import Case, Example, Scored, evaluate, load_examples, load_map, strip_entities


def test_strip_entities_handles_both_markups():
    assert strip_entities("install [Visio](software) now") == "install Visio now"
    assert strip_entities('it is [urgent]{"entity": "priority", "value": "high"}!') == "it is urgent!"


def test_load_examples_maps_and_skips_labels(tmp_path):
    nlu = tmp_path / "nlu.yml"
    nlu.write_text(textwrap.dedent("""\
        version: "3.1"
        nlu:
        - intent: open_incident
          examples: |
            - open a ticket for [outlook](software)
            - I need help
        - intent: inform
          examples: |
            - it's urgent
        - intent: greet
          examples: |
            - hello
        - synonym: high
          examples: |
            - urgent
        """))
    mapping = tmp_path / "map.yml"
    mapping.write_text("open_incident: open_ticket\ninform: null\n")
    examples = load_examples(nlu, load_map(mapping))
    assert examples == [Example("open a ticket for outlook", "open_ticket"), Example("I need help", "open_ticket"),
                        Example("hello", "greet")]


async def test_metrics_from_predictions():
    truth = {"reset my password": "password_reset", "pw reset": "password_reset", "vpn down": "vpn_problem",
             "pizza please": "out_of_scope", "weather?": "out_of_scope"}
    answers = {"reset my password": ("password_reset", 0.9), "pw reset": ("vpn_problem", 0.6),
               "vpn down": ("vpn_problem", 0.8), "pizza please": ("nlu_fallback", 0.3),
               "weather?": ("wifi_problem", 0.5)}

    async def parse(text):
        name, confidence = answers[text]
        return {"intent": {"name": name, "confidence": confidence}}

    report = await evaluate([Example(t, i) for t, i in truth.items()], parse)
    m = report.metrics()
    assert m["examples"] == 5 and m["accuracy"] == 0.4
    assert m["fallback_rate"] == 0.2
    assert m["out_of_scope_accepted_as_it"] == 0.5
    assert m["per_intent"]["password_reset"] == {"precision": 1.0, "recall": 0.5, "f1": 0.6667, "support": 2}
    assert m["per_intent"]["vpn_problem"]["precision"] == 0.5
    assert m["macro_f1"] == round((0.6667 + 0.6667 + 0.0) / 3, 4)
    assert len(report.as_dict()["predictions"]) == 5


# --- the suite: realistic set, hwu64 sample, helpdesk-assistant; scored per group ------------------------------

REPO = Path(__file__).resolve().parents[2]


def _scored(text, group, intent, predicted, split="dev"):
    return Scored(Case(text, group, intent, split), predicted, 0.5, 1.0)


def test_split_is_fixed_by_the_text_and_holds_out_about_thirty_percent():
    texts = [f"request number {i}" for i in range(2000)]
    splits = [nlu_eval.split_of(t) for t in texts]
    assert splits == [nlu_eval.split_of(t) for t in texts]
    assert nlu_eval.split_of("my  vpn\tis down") == nlu_eval.split_of("my vpn is down")
    assert 0.26 < splits.count("test") / len(splits) < 0.34


def test_load_realistic_reads_groups_intents_and_splits(tmp_path):
    (tmp_path / "it.yml").write_text(textwrap.dedent("""\
        group: it
        cases:
        - intent: printer_problem|ask_question
          examples: |
            - Epson L210: "driver not compatible"
        - intent: any_it
          examples: |
            - which PDF viewer would you recommend?
        """))
    (tmp_path / "non_it.yml").write_text("group: non_it\ncases:\n- examples: |\n    - book me a flight\n")
    cases = nlu_eval.load_realistic(tmp_path)
    assert [(c.text, c.group, c.intent) for c in cases] == [
        ('Epson L210: "driver not compatible"', "it", "printer_problem|ask_question"),
        ("which PDF viewer would you recommend?", "it", "any_it"), ("book me a flight", "non_it", None)]
    assert cases[0].expects() == {"printer_problem", "ask_question"} and cases[1].expects() == frozenset()
    test = nlu_eval.load_realistic(tmp_path, split="test")
    dev = nlu_eval.load_realistic(tmp_path, split="dev")
    assert sorted(c.text for c in test + dev) == sorted(c.text for c in cases)
    assert all(c.split == nlu_eval.split_of(c.text) for c in cases)


def test_load_realistic_refuses_duplicates_and_unknown_groups(tmp_path):
    (tmp_path / "a.yml").write_text("group: it\ncases:\n- intent: any_it\n  examples: |\n    - VPN down\n    - vpn down\n")
    with pytest.raises(ValueError, match="duplicate"):
        nlu_eval.load_realistic(tmp_path)
    (tmp_path / "a.yml").write_text("group: itt\ncases: []\n")
    with pytest.raises(ValueError, match="group"):
        nlu_eval.load_realistic(tmp_path)


def test_the_shipped_realistic_set_is_big_labelled_with_bot_intents_and_held_out():
    cases = nlu_eval.load_realistic(REPO / "data" / "eval" / "realistic")
    by_group = {g: [c for c in cases if c.group == g] for g in ("it", "non_it", "smalltalk")}
    assert len(by_group["it"]) >= 300 and len(by_group["non_it"]) >= 120 and len(by_group["smalltalk"]) >= 80
    domain = yaml.safe_load((REPO / "bot" / "domain.yml").read_text())
    intents = set(domain["intents"])
    for case in by_group["it"]:
        assert case.intent == nlu_eval.ANY_IT or case.expects() <= intents & nlu_eval.IT_INTENTS, case
    assert all(c.intent is None for c in by_group["non_it"])
    assert all(c.expects() and c.expects() <= nlu_eval.SMALL_TALK for c in by_group["smalltalk"])
    assert 0.25 < sum(c.split == "test" for c in cases) / len(cases) < 0.35


def _hwu(tmp_path):
    path = tmp_path / "hwu.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["scenario", "intent", "text"])
        for i in range(60):
            writer.writerow(["alarm", "set", f"wake me up at {i}"])
        for i in range(30):
            writer.writerow(["general", "praise", f"thanks a lot number {i}"])
        for i in range(10):
            writer.writerow(["general", "repeat", f"say it again {i}"])
    return path


def test_hwu64_sample_is_stratified_deterministic_and_mapped(tmp_path):
    path = _hwu(tmp_path)
    label_map = {"general_praise": "thank", "general_repeat": None}
    cases = nlu_eval.load_hwu64(path, label_map, sample=30, seed=7)
    assert cases == nlu_eval.load_hwu64(path, label_map, sample=30, seed=7)
    assert len(cases) == 30
    assert sum(c.text.startswith("wake") for c in cases) == 20  # 60 of 90 kept rows -> 2/3 of the sample
    assert {(c.group, c.intent) for c in cases if c.text.startswith("thanks")} == {("smalltalk", "thank")}
    assert {(c.group, c.intent) for c in cases if c.text.startswith("wake")} == {("non_it", None)}
    assert not any(c.text.startswith("say it") for c in cases)
    assert len(nlu_eval.load_hwu64(path, label_map, sample=1000)) == 90


def test_the_hwu64_map_names_only_small_talk_intents():
    label_map = nlu_eval.load_map(REPO / "data" / "eval" / "hwu64.map.yml")
    assert label_map and all(v in nlu_eval.SMALL_TALK for v in label_map.values() if v is not None)


def test_helpdesk_examples_get_their_group():
    examples = [Example("reset pw", "password_reset"), Example("hi", "greet"), Example("pizza", "out_of_scope"),
                Example("a human please", "human_handoff")]
    assert [(c.group, c.intent) for c in nlu_eval.cases_from_examples(examples)] == [
        ("it", "password_reset"), ("smalltalk", "greet"), ("non_it", None), ("other", "human_handoff")]


def test_group_metrics_and_confusions():
    scored = [
        _scored("printer broken", "it", "printer_problem", "printer_problem"),
        _scored("add a printer?", "it", "printer_problem|ask_question", "ask_question"),
        _scored("which pdf viewer", "it", "any_it", "ask_question"),
        _scored("epson l210 driver", "it", "any_it", "nlu_fallback"),
        _scored("outlook 2016 password", "it", "email_problem", "out_of_scope"),
        _scored("book a flight", "non_it", None, "out_of_scope"),
        _scored("my salary", "non_it", None, "ticket_status"),
        _scored("cook rice", "non_it", None, "help"),
        _scored("bye", "smalltalk", "goodbye", "human_handoff"),
        _scored("thanks", "smalltalk", "thank", "thank"),
        _scored("hello", "smalltalk", "greet", "thank"),
    ]
    groups = nlu_eval.group_metrics(scored)
    assert groups["it"] == {"n": 5, "as_it": 0.6, "refused": 0.4, "as_smalltalk": 0.0, "intent_right": 0.6667,
                            "intent_n": 3}
    assert groups["non_it"]["as_it"] == 0.3333 and groups["non_it"]["refused"] == 0.3333
    assert groups["non_it"]["intent_right"] is None and groups["non_it"]["intent_n"] == 0
    assert groups["smalltalk"]["as_smalltalk"] == 0.6667 and groups["smalltalk"]["intent_right"] == 0.3333
    assert "other" not in groups
    assert dict(nlu_eval.confusions(scored)) == {
        "any_it -> nlu_fallback": 1, "email_problem -> out_of_scope": 1, "non_it -> ticket_status": 1,
        "non_it -> help": 1, "goodbye -> human_handoff": 1, "greet -> thank": 1}
    summary = nlu_eval.summarise(scored)
    assert summary["accuracy"] == 0.5 and summary["examples"] == 11  # 3 of the 6 cases that name an intent


async def test_run_suite_adds_the_held_out_part_and_prints_one_table():
    sets = {"realistic": [Case("vpn down", "it", "vpn_problem", "test"), Case("printer", "it", "any_it", "dev")],
            "hwu64 (2)": [Case("wake me up", "non_it"), Case("thanks", "smalltalk", "thank")]}
    answers = {"vpn down": "vpn_problem", "printer": "nlu_fallback", "wake me up": "ask_question", "thanks": "thank"}
    ticks = []

    async def parse(text):
        return {"intent": {"name": answers[text], "confidence": 0.7}}

    scored = await nlu_eval.run_suite(sets, parse, lambda: ticks.append(1))
    assert len(ticks) == 4
    assert list(scored) == ["realistic (all)", "realistic test", "hwu64 (2)"]
    assert [s.case.text for s in scored["realistic test"]] == ["vpn down"]
    report = nlu_eval.suite_report(scored)
    assert set(report["predictions"]) == {"realistic (all)", "hwu64 (2)"}
    assert report["summaries"]["realistic test"]["groups"]["it"]["as_it"] == 1.0
    text = nlu_eval.table(report["summaries"])
    rows = {tuple(line.split()[:3]) for line in text.splitlines()}
    assert ("realistic", "(all)", "it") in rows and ("hwu64", "(2)", "non_it") in rows
    confusions = nlu_eval.confusion_lines(report["summaries"])
    assert "top confusions, realistic (all):\n     1  any_it -> nlu_fallback" in confusions
    assert "non_it -> ask_question" in confusions


def test_suite_skips_public_sets_that_are_missing(tmp_path):
    sources = nlu_eval.Sources.default(REPO, tmp_path / "nowhere")
    sets, skipped = nlu_eval.load_suite(sources)
    assert list(sets) == ["realistic"] and len(skipped) == 2


def _training_texts():
    texts = set()
    for path in (REPO / "data" / "nlu").glob("*.yml"):
        texts |= {" ".join(e.text.lower().split()) for e in load_examples(path)}
    return texts


def test_no_realistic_case_is_a_training_example():
    training = _training_texts()
    cases = nlu_eval.load_realistic(REPO / "data" / "eval" / "realistic")
    assert [c.text for c in cases if " ".join(c.text.lower().split()) in training] == []


def test_no_hwu64_row_is_in_the_training_data():
    hwu64 = nlu_eval.find_shared_eval(REPO) / "hwu64" / "utterances.csv"
    if not hwu64.is_file():
        pytest.skip("hwu64 is kept outside the repository")
    with hwu64.open(encoding="utf-8", newline="") as handle:
        rows = {" ".join(r["text"].lower().split()) for r in csv.DictReader(handle)}
    overlap = sorted(_training_texts() & rows)
    # 14 short commonplace phrases ("tell me a joke", "see you") are in both; guard against any more
    assert len(overlap) <= 14 and all(len(text.split()) <= 6 for text in overlap), overlap
