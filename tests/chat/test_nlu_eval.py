"""NLU evaluation: YAML reading with entity markup and label maps, and the metrics."""

from __future__ import annotations

import textwrap

from api.chat.nlu_eval import Example, evaluate, load_examples, load_map, strip_entities


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
