"""Reading the conversation: is someone signed in, which conversation, what was said.

The api gateway sends every user message to Rasa with
``metadata: {"conversation_id": ..., "channel": ..., "assertion": ...}``; ``assertion`` is a
short-lived signed token naming the verified employee (None for an anonymous conversation). The
actions never learn who the employee is: they forward the assertion and the api decides.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from rasa_sdk import Tracker

from actions import tracing
from actions.api_client import ApiClient

_BLANK_LINES = re.compile(r"\n\s*\n+")


def _current_metadata(tracker: Tracker) -> Iterator[dict[str, Any]]:
    """The metadata of the current turn: the newest user message's (assertions expire; older ones are stale)."""
    latest = tracker.latest_message or {}
    if latest.get("metadata"):
        yield latest["metadata"]
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            if event.get("metadata"):
                yield event["metadata"]
            return


def _from_metadata(tracker: Tracker, key: str) -> str | None:
    for metadata in _current_metadata(tracker):
        value = metadata.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def assertion(tracker: Tracker) -> str | None:
    """The turn's signed assertion from the gateway, or None (an anonymous conversation)."""
    return _from_metadata(tracker, "assertion")


def signed_in(tracker: Tracker) -> bool:
    """A present assertion means the gateway verified who is talking (the api checks it)."""
    return assertion(tracker) is not None


def conversation_id(tracker: Tracker) -> str | None:
    """The api's conversation id from the metadata, or None."""
    return _from_metadata(tracker, "conversation_id")


def trace_id(tracker: Tracker) -> str | None:
    """The turn's trace id (``traceparent`` in the metadata, from the gateway), or None."""
    return tracing.parse(_from_metadata(tracker, "traceparent"))


def api_client(tracker: Tracker) -> ApiClient:
    """An api client for this turn: with its assertion when someone is signed in, and its trace id."""
    return ApiClient.from_env(assertion=assertion(tracker), trace_id=trace_id(tracker))


def _user_events(tracker: Tracker) -> list[dict[str, Any]]:
    return [e for e in tracker.events if e.get("event") == "user"]


def last_user_text(tracker: Tracker) -> str | None:
    """The newest text the user typed (button payloads such as ``/ask_question`` skipped)."""
    for event in reversed(_user_events(tracker)):
        text = (event.get("text") or "").strip()
        if text and not text.startswith("/"):
            return text
    return None


def one_paragraph(text: str) -> str:
    """Collapses blank lines: the REST channel splits a message at every blank line."""
    return _BLANK_LINES.sub("\n", text.strip())
