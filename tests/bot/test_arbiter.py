"""The arbiter component (bot/arbiter.py) inside Rasa's NLU: the gateway's hint re-ranks DIET's intents."""
from __future__ import annotations

import pytest
from rasa.shared.nlu.training_data.message import Message

from bot.arbiter import HintArbiter


def _message(ranking: list[tuple[str, float]], metadata: object = None) -> Message:
    message = Message(data={"text": "x", "metadata": metadata})
    message.set("intent", {"name": ranking[0][0], "confidence": ranking[0][1]})
    message.set("intent_ranking", [{"name": n, "confidence": c} for n, c in ranking])
    return message


def test_a_hint_re_ranks_the_intent_and_the_fallback_sees_the_mix():
    diet = [("out_of_scope", 0.55), ("printer_problem", 0.25), ("greet", 0.2)]
    hint = {"nlu_hint": {"ranking": [{"name": "printer_problem", "confidence": 0.9},
                                     {"name": "out_of_scope", "confidence": 0.1}]}}
    (message,) = HintArbiter({"hint_weight": 0.6}).process([_message(diet, hint)])
    assert message.get("intent")["name"] == "printer_problem"
    assert message.get("intent")["confidence"] == pytest.approx(0.4 * 0.25 + 0.6 * 0.9)
    assert [r["name"] for r in message.get("intent_ranking")] == ["printer_problem", "out_of_scope", "greet"]


@pytest.mark.parametrize("metadata", [None, {}, {"nlu_hint": "garbage"}, {"conversation_id": "c"}])
def test_without_a_usable_hint_diet_stands(metadata):
    (message,) = HintArbiter({"hint_weight": 0.6}).process([_message([("greet", 0.8), ("thank", 0.2)], metadata)])
    assert message.get("intent") == {"name": "greet", "confidence": 0.8}


def test_the_weight_is_validated():
    with pytest.raises(ValueError, match="hint_weight"):
        HintArbiter({"hint_weight": 1.5})
