"""A SQL tracker store whose conversations stay short: a long session is compacted when it is loaded.

Rasa 3.6's SQLTrackerStore loads every event since the conversation's latest ``session_started`` on every turn
and the policies then walk all of them, so turn 100 of one conversation costs several times turn 2
(bench/chat.py, "long_conversation"). Session expiry (``session_config`` in bot/domain.yml) only helps after a
pause. This store bounds the work: when the loaded session has more than ``compact_after`` events, it appends a
new ``session_started`` event followed by the state at the start of the last ``keep_turns`` user turns (every
slot's value and the active loop, as ``slot``/``active_loop`` events) and copies of those turns' events, and
returns that tracker. Rasa itself starts every session this way (``action_session_start`` carries slots over),
and the policies already look only at the events since the latest session start (``applied_events``), at most
``max_history`` (5, bot/config.yml) turns of them: with ``keep_turns`` above that, the next prediction sees the
same turns and the same slots. Nothing is deleted; the full history (``retrieve_full_tracker``, Rasa's
``/conversations/<id>/tracker?include_events=ALL``) then shows the kept turns twice.

Configured in the ``tracker_store`` of an endpoints file::

    tracker_store:
      type: bot.tracker_store.CompactingSQLTrackerStore
      dialect: postgresql
      url: ...            # like type: SQL
      compact_after: 200  # events in the session (default)
      keep_turns: 10      # user turns kept (default)
"""
from __future__ import annotations

import json
import logging
import time
from typing import Any

from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.events import ActiveLoop, Event, SessionStarted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

logger = logging.getLogger(__name__)


class CompactingSQLTrackerStore(SQLTrackerStore):
    """SQLTrackerStore that compacts a session longer than ``compact_after`` events to its last ``keep_turns``."""

    def __init__(self, *args: Any, compact_after: int = 200, keep_turns: int = 10, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.compact_after = int(compact_after)
        self.keep_turns = int(keep_turns)
        if self.keep_turns < 1 or self.compact_after < 1:
            raise ValueError("compact_after and keep_turns must be at least 1")

    async def retrieve(self, sender_id: str) -> DialogueStateTracker | None:
        tracker = await super().retrieve(sender_id)
        if tracker is None or len(tracker.events) <= self.compact_after:
            return tracker
        compacted = self.compacted_events(tracker)
        if compacted is None:
            return tracker
        self._append(sender_id, compacted)
        logger.debug("compacted the tracker of %s: %d events to %d", sender_id, len(tracker.events), len(compacted))
        return DialogueStateTracker.from_events(sender_id, compacted, self.domain.slots)

    def compacted_events(self, tracker: DialogueStateTracker) -> list[Event] | None:
        """A new session start, the state before the last ``keep_turns`` user turns, and those turns' events;
        None when the session has no more turns than that."""
        events = list(tracker.events)
        users = [i for i, e in enumerate(events) if isinstance(e, UserUttered)]
        if len(users) <= self.keep_turns:
            return None
        start = users[-self.keep_turns]
        before = DialogueStateTracker.from_events(tracker.sender_id, events[:start], self.domain.slots)
        now = time.time()
        state: list[Event] = [SessionStarted(timestamp=now)]
        state += [SlotSet(name, slot.value, timestamp=now) for name, slot in before.slots.items()
                  if slot.value != slot.initial_value]  # the session start resets every slot to its initial value
        if before.active_loop_name:
            state.append(ActiveLoop(before.active_loop_name, timestamp=now))
        return state + events[start:]

    def _append(self, sender_id: str, events: list[Event]) -> None:
        """Stores the compacted session after the conversation's events; its rows carry the new session's start
        time (the store finds a session's events by timestamp), each event's data keeps its own."""
        started = events[0].timestamp
        with self.session_scope() as session:
            for event in events:
                data = event.as_dict()
                session.add(self.SQLEvent(
                    sender_id=sender_id, type_name=event.type_name, timestamp=max(started, event.timestamp),
                    intent_name=(data.get("parse_data") or {}).get("intent", {}).get("name"),
                    action_name=data.get("name"), data=json.dumps(data)))
            session.commit()
