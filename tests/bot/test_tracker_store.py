"""bot/tracker_store.py with the trained model: a long conversation is compacted and the bot answers the same.

Each test gets SQLite files of its own (the store is SQLTrackerStore's SQL, dialect-neutral; bench/chat.py runs
it on Postgres). Skipped when no model was trained.
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
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage  # noqa: E402
from rasa.core.tracker_store import FailSafeTrackerStore, SQLTrackerStore  # noqa: E402
from rasa.shared.core.events import SessionStarted, UserUttered  # noqa: E402

from bot.tracker_store import CompactingSQLTrackerStore  # noqa: E402

TEXTS = ["hi there", "thanks a lot", "good morning", "bye", "ok thanks", "hello again"]
TURNS = 45


@pytest.fixture(scope="module")
def agent() -> Iterator[Agent]:
    yield Agent.load(str(MODEL))


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def use(agent: Agent, store: Any) -> None:
    store.domain = agent.domain
    agent.tracker_store = agent.processor.tracker_store = FailSafeTrackerStore(store)


def converse(agent: Agent, loop: asyncio.AbstractEventLoop, sender: str, loaded: list[int]) -> list[list[str]]:
    """TURNS turns; the bot's texts of each; ``loaded`` gets the size of the tracker each turn loaded."""
    store = agent.processor.tracker_store._tracker_store
    retrieve = store.retrieve

    async def counted(sender_id: str) -> Any:
        tracker = await retrieve(sender_id)
        loaded.append(len(tracker.events) if tracker else 0)
        return tracker

    store.retrieve = counted
    replies = []
    for turn in range(TURNS):
        collector = CollectingOutputChannel()
        loop.run_until_complete(agent.handle_message(UserMessage(TEXTS[turn % len(TEXTS)], collector, sender)))
        replies.append([m.get("text") or "" for m in collector.messages])
    return replies


def test_a_long_conversation_is_compacted_and_answered_the_same(agent: Agent, loop, tmp_path: Path):
    use(agent, SQLTrackerStore(dialect="sqlite", db=str(tmp_path / "plain.db")))
    plain_sizes: list[int] = []
    plain = converse(agent, loop, "long-1", plain_sizes)
    plain_tracker = loop.run_until_complete(agent.processor.get_tracker("long-1"))

    use(agent, CompactingSQLTrackerStore(dialect="sqlite", db=str(tmp_path / "compact.db"), compact_after=40,
                                         keep_turns=6))
    sizes: list[int] = []
    compacted = converse(agent, loop, "long-1", sizes)
    tracker = loop.run_until_complete(agent.processor.get_tracker("long-1"))

    assert compacted == plain  # every turn's replies, turn by turn
    assert max(plain_sizes) > 150  # the plain store loads the whole session, growing every turn
    assert max(sizes) <= 40 + 12  # compacted: never much above compact_after (one turn's events on top)
    assert sizes[-1] < plain_sizes[-1] / 3
    assert tracker.current_slot_values() == plain_tracker.current_slot_values()
    assert tracker.active_loop_name == plain_tracker.active_loop_name
    # what the policies featurize (max_history 5) is the same
    assert tracker.past_states(agent.domain)[-5:] == plain_tracker.past_states(agent.domain)[-5:]
    users = [e.text for e in tracker.events if isinstance(e, UserUttered)]
    assert users == [TEXTS[t % len(TEXTS)] for t in range(TURNS)][-len(users):]
    assert isinstance(tracker.events[0], SessionStarted)


def test_a_slot_set_before_the_kept_turns_survives_compaction(agent: Agent, loop, tmp_path: Path):
    store = CompactingSQLTrackerStore(dialect="sqlite", db=str(tmp_path / "slots.db"), compact_after=20, keep_turns=3)
    use(agent, store)
    slot = "workflow"  # a text slot only actions set (mapping `custom`): no turn here changes it
    tracker = loop.run_until_complete(agent.processor.get_tracker("slots-1"))
    from rasa.shared.core.events import SlotSet

    tracker.update(SlotSet(slot, "kept value"), agent.domain)
    loop.run_until_complete(agent.processor.save_tracker(tracker))
    for turn in range(12):
        loop.run_until_complete(agent.handle_message(UserMessage(TEXTS[turn % len(TEXTS)], CollectingOutputChannel(),
                                                                 "slots-1")))
    loaded = loop.run_until_complete(agent.processor.get_tracker("slots-1"))
    assert isinstance(loaded.events[0], SessionStarted)  # compacted…
    assert loaded.get_slot(slot) == "kept value"  # …with the slot set ten turns before the kept ones
    full = loop.run_until_complete(store.retrieve_full_tracker("slots-1"))
    assert len(full.events) > len(loaded.events)  # nothing was deleted


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="at least 1"):
        CompactingSQLTrackerStore(dialect="sqlite", db=":memory:", keep_turns=0)
