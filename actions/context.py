"""Reading the conversation: who is talking, which turn, what was said.

The api gateway sends every user message to Rasa with
``metadata: {"employee_email": ..., "conversation_id": ...}``; Rasa keeps it on the user
events (and on ``session_started``). The email is never taken from what the user types.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from rasa_sdk import Tracker

from actions.api_client import ApiClient

# Intents that only answer the bot; they never say what the conversation is about.
CONTROL_INTENTS = frozenset({
    "affirm", "deny", "inform", "stop", "thank", "greet", "goodbye", "nlu_fallback",
    "open_ticket", "human_handoff", "help", "bot_challenge", "ask_question",
})
REQUEST_INTENTS = frozenset({
    "software_request", "access_request", "vpn_access_request", "new_employee_setup",
})
_BLANK_LINES = re.compile(r"\n\s*\n+")


def _metadata_events(tracker: Tracker) -> Iterator[dict[str, Any]]:
    """Metadata dicts from the newest user message back to the session start."""
    latest = tracker.latest_message or {}
    if latest.get("metadata"):
        yield latest["metadata"]
    for event in reversed(tracker.events):
        if event.get("event") in ("user", "session_started") and event.get("metadata"):
            yield event["metadata"]


def _from_metadata(tracker: Tracker, key: str) -> str | None:
    for metadata in _metadata_events(tracker):
        value = metadata.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def employee_email(tracker: Tracker) -> str | None:
    """The signed-in employee's email from the gateway's metadata, or None (anonymous)."""
    return _from_metadata(tracker, "employee_email")


def conversation_id(tracker: Tracker) -> str | None:
    """The api's conversation id from the metadata, or None."""
    return _from_metadata(tracker, "conversation_id")


def api_client(tracker: Tracker) -> ApiClient:
    """An api client acting for this conversation's employee."""
    return ApiClient.from_env(on_behalf_of=employee_email(tracker))


def _user_events(tracker: Tracker) -> list[dict[str, Any]]:
    return [e for e in tracker.events if e.get("event") == "user"]


def idempotency_key(tracker: Tracker) -> str:
    """``<conversation id>:<turn id>``: the same for every retry of the same user turn."""
    users = _user_events(tracker)
    turn = ""
    if users:
        turn = users[-1].get("message_id") or ""
    if not turn:
        turn = str(len(users))
    return f"{conversation_id(tracker) or tracker.sender_id}:{turn}"


def last_user_text(tracker: Tracker) -> str | None:
    """The newest text the user typed (button payloads such as ``/ask_question`` skipped)."""
    for event in reversed(_user_events(tracker)):
        text = (event.get("text") or "").strip()
        if text and not text.startswith("/"):
            return text
    return None


def topic(tracker: Tracker) -> tuple[str | None, float | None, str | None]:
    """(intent, confidence, text) of the newest user turn that says what this is about."""
    for event in reversed(_user_events(tracker)):
        intent = (event.get("parse_data") or {}).get("intent") or {}
        name = intent.get("name")
        if name and name not in CONTROL_INTENTS:
            return name, intent.get("confidence"), event.get("text")
    latest = (tracker.latest_message or {}).get("intent") or {}
    return latest.get("name"), latest.get("confidence"), None


def mentioned_entities(tracker: Tracker, *names: str) -> dict[str, list[str]]:
    """Distinct values of the given entities that the user mentioned, oldest first."""
    found: dict[str, list[str]] = {}
    for event in _user_events(tracker):
        for entity in (event.get("parse_data") or {}).get("entities") or []:
            name, value = entity.get("entity"), entity.get("value")
            if name in names and isinstance(value, str) and value not in found.get(name, []):
                found.setdefault(name, []).append(value)
    return found


def transcript(tracker: Tracker, *, max_lines: int = 30) -> str:
    """The last lines of the conversation as plain text, for a ticket's description."""
    lines = []
    for event in tracker.events:
        text = (event.get("text") or "").strip()
        if not text or text.startswith("/"):
            continue
        if event.get("event") == "user":
            lines.append(f"Employee: {text}")
        elif event.get("event") == "bot":
            lines.append(f"deskmate: {text}")
    return "\n".join(lines[-max_lines:])


def one_paragraph(text: str) -> str:
    """Collapses blank lines: the REST channel splits a message at every blank line."""
    return _BLANK_LINES.sub("\n", text.strip())
