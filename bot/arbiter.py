"""A Rasa NLU component that combines DIET's intent ranking with the gateway's hint (bot/nlu_hint.py).

In bot/config.yml after DIETClassifier and before FallbackClassifier::

    - name: bot.arbiter.HintArbiter
      hint_weight: 0.7

A message without a hint (``rasa shell``, Rasa's own /model/parse, conversation tests) keeps DIET's result.
"""
from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import INTENT, INTENT_NAME_KEY, INTENT_RANKING_KEY, PREDICTED_CONFIDENCE_KEY
from rasa.shared.nlu.training_data.message import Message

from bot.nlu_hint import combine, hint_ranking


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False)
class HintArbiter(GraphComponent):
    """Re-ranks the intent with the gateway's embedding classifier; trains nothing."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {"hint_weight": 0.6}

    def __init__(self, config: dict[str, Any]) -> None:
        weight = float(config.get("hint_weight", 0.6))
        if not 0 <= weight <= 1:
            raise ValueError(f"HintArbiter: hint_weight must be between 0 and 1, not {weight}")
        self.weight = weight

    @classmethod
    def create(cls, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> HintArbiter:
        return cls(config)

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            hint = hint_ranking(message.get("metadata"))
            diet = [r for r in (message.get(INTENT_RANKING_KEY) or []) if isinstance(r, dict)]
            if not hint or not diet:
                continue
            ranking = combine([{"name": r[INTENT_NAME_KEY], "confidence": r[PREDICTED_CONFIDENCE_KEY]} for r in diet],
                              hint, weight=self.weight)
            ranking = [{INTENT_NAME_KEY: r["name"], PREDICTED_CONFIDENCE_KEY: r["confidence"]} for r in ranking][:10]
            message.set(INTENT, dict(ranking[0]), add_to_output=True)
            message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
        return messages
