"""The turn's trace id in the action server: read from the tracker, on every log line, on every api call.

The api's gateway puts a W3C ``traceparent`` in the turn's metadata (api/observability/tracing.py); Rasa hands it
over in ``tracker.latest_message.metadata``. The action server logs it with each action it runs and sends it back
to the api as the ``traceparent`` header (actions/api_client.py), so one turn has one trace id in all four logs.
"""
from __future__ import annotations

import contextvars
import logging
import re
import secrets
from typing import Any

trace_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("trace_id", default=None)
_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$")


def parse(value: Any) -> str | None:
    """The trace id of a W3C ``traceparent`` (version 00), or None."""
    match = _TRACEPARENT.match(value.strip().lower()) if isinstance(value, str) else None
    return match.group(1) if match and match.group(1) != "0" * 32 else None


def from_action_call(body: Any) -> str | None:
    """The trace id in a call of Rasa to the action server: ``tracker.latest_message.metadata.traceparent``."""
    tracker = body.get("tracker") if isinstance(body, dict) else None
    latest = tracker.get("latest_message") if isinstance(tracker, dict) else None
    metadata = latest.get("metadata") if isinstance(latest, dict) else None
    return parse(metadata.get("traceparent")) if isinstance(metadata, dict) else None


def traceparent(tid: str | None) -> str | None:
    """A ``traceparent`` header of trace ``tid`` for an outgoing call (a new span id), or None."""
    return f"00-{tid}-{secrets.token_hex(8)}-01" if tid else None


class LogTrace(logging.Filter):
    """Gives every record ``trace``: `` trace_id=…`` during a traced action call, else empty (for the format)."""

    def filter(self, record: logging.LogRecord) -> bool:
        tid = trace_id.get()
        record.trace = f" trace_id={tid}" if tid else ""
        return True
