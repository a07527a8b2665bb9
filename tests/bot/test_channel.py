"""deskmate's Rasa input channel (bot/channel.py) with the trained model: one parse and one tracker load per turn.

The agent is the real one (bot/models/deskmate.tar.gz, in-memory tracker store, no action server: the turns
used here only run Rasa's own actions and responses). Skipped when no model was trained.
"""
from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "bot" / "models" / "deskmate.tar.gz"
if not MODEL.exists():
    pytest.skip(f"no trained model at {MODEL}; run scripts/train_bot.sh", allow_module_level=True)

from rasa.core.agent import Agent  # noqa: E402  (heavy import, only with a model)
from rasa.engine.graph import GraphSchema  # noqa: E402
from rasa.shared.core.constants import ACTION_LISTEN_NAME  # noqa: E402

from bot import channel  # noqa: E402


class Loads:
    """Counts the tracker store's loads (``retrieve``/``retrieve_full_tracker``) of the agent's processor."""

    def __init__(self, agent: Agent) -> None:
        self.count = 0
        store = agent.processor.tracker_store
        for name in ("retrieve", "retrieve_full_tracker"):
            original = getattr(store, name)

            async def counted(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
                self.count += 1
                return await _original(*args, **kwargs)

            setattr(store, name, counted)


@pytest.fixture(scope="module")
def agent() -> Iterator[Agent]:
    yield Agent.load(str(MODEL))


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def test_the_nlu_graph_does_not_read_the_tracker(agent: Agent):
    """What makes the channel's parse (no tracker) the turn's parse: no NLU node needs the tracker placeholder."""
    schema: GraphSchema = agent.processor.model_metadata.predict_schema
    needed, todo = set(), [agent.processor.model_metadata.nlu_target]
    while todo:
        name = todo.pop()
        if name in needed:
            continue
        needed.add(name)
        if name in schema.nodes:
            todo += list(schema.nodes[name].needs.values())
    assert "run_DIETClassifier5" in needed or any("DIETClassifier" in n for n in needed)  # the walk found the NLU
    assert "__tracker__" not in needed


def test_a_turn_answers_replies_and_intent_with_one_tracker_load(agent: Agent, loop):
    loads = Loads(agent)
    sender = "channel-test-1"
    first = loop.run_until_complete(channel.turn(agent.processor, agent.handle_message, sender=sender,
                                                 text="hi there", metadata={"channel": "web"},
                                                 input_channel="deskmate"))
    assert first["messages"] and all(m["recipient_id"] == sender for m in first["messages"])
    loads.count = 0
    second = loop.run_until_complete(channel.turn(agent.processor, agent.handle_message, sender=sender,
                                                  text="thanks a lot", metadata={"channel": "web"},
                                                  input_channel="deskmate"))
    assert loads.count == 1  # the turn's own load; the intent came from the channel's parse, not a second load
    tracker = loop.run_until_complete(agent.processor.get_tracker(sender))
    latest = tracker.latest_message
    assert second["intent"] == {"name": latest.intent["name"], "confidence": latest.intent["confidence"]}
    assert second["intent"]["name"] == "thank"
    # the turn used the channel's parse, not one of its own: the tracker keeps exactly one user message for it
    users = [e for e in tracker.events if e.type_name == "user"]
    assert [u.text for u in users] == ["hi there", "thanks a lot"]
    assert tracker.latest_action_name == ACTION_LISTEN_NAME


def test_the_parse_is_the_one_rasa_would_make_in_the_turn(agent: Agent, loop):
    """Hint in the metadata and all: the intent answered equals Rasa's own parse of the same message."""
    metadata = {"channel": "web", "nlu_hint": [{"name": "greet", "confidence": 0.9}]}
    answer = loop.run_until_complete(channel.turn(agent.processor, agent.handle_message, sender="channel-test-2",
                                                  text="good morning", metadata=metadata, input_channel="deskmate"))
    from rasa.core.channels.channel import UserMessage

    own = loop.run_until_complete(agent.processor.parse_message(UserMessage("good morning", metadata=metadata)))
    assert answer["intent"] == {"name": own["intent"]["name"], "confidence": own["intent"]["confidence"]}


def test_without_a_model_the_turn_answers_nothing():
    async def nobody(message: Any) -> None:
        return None

    answer = asyncio.run(channel.turn(None, nobody, sender="s", text="hi", metadata=None, input_channel="deskmate"))
    assert answer == {"messages": [], "intent": {"name": None, "confidence": None}}


class _Request:
    def __init__(self, headers: dict[str, str]) -> None:
        self.headers = headers


@pytest.mark.parametrize(("secret", "given", "ok"), [
    ("s3cret", "s3cret", True), ("s3cret", "wrong", False), ("s3cret", "", False), ("", "", False)])
def test_the_channel_secret_is_required(secret: str, given: str, ok: bool):
    headers = {channel.SECRET_HEADER: given} if given else {}
    assert channel.DeskmateInput(secret).allowed(_Request(headers)) is ok  # type: ignore[arg-type]


@pytest.mark.parametrize("result", [
    {"events": [{"event": "slot", "name": "summary", "value": "x"}], "responses": [{"text": "hi"}]},
    {"events": [], "responses": []},
    {"events": [{"name": "summary"}], "responses": []},  # an event without its type
    {"events": "not a list", "responses": []},
    {"events": [], "responses": [{"text": "hi"}], "extra": 1},
])
def test_action_results_are_validated_as_rasa_validates_them(result: dict):
    """The channel's prebuilt validator accepts and refuses what ``jsonschema.validate`` (Rasa's own) does."""
    import jsonschema
    from rasa.core.actions.action import RemoteAction

    action = RemoteAction("action_x", None)
    try:
        jsonschema.validate(result, RemoteAction.action_response_format_spec())
        expected = None
    except jsonschema.ValidationError as error:
        expected = error.message
    assert RemoteAction._validate_action_result is channel._validate_action_result  # the channel's is in place
    if expected is None:
        assert action._validate_action_result(result) is True
    else:
        with pytest.raises(jsonschema.ValidationError) as caught:
            action._validate_action_result(result)
        assert caught.value.message.startswith(expected) and "Failed to validate Action server" in caught.value.message
