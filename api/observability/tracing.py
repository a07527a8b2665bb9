"""The trace id of a request: W3C ``traceparent`` in, a contextvar while the request runs, on every log record.

The gateway starts a trace per request (or continues the caller's ``traceparent``); a chat turn sends it to Rasa in
the message metadata (``metadata.traceparent``), the action server reads it from the tracker and sends it back on
its calls to the api as the ``traceparent`` header. So the api, Rasa, the action server and the api again log the same
``trace_id`` for one turn (docs/operations.md, "Trace ids").
"""

from __future__ import annotations

import contextvars
import logging
import re
import secrets
from typing import Any

trace_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("trace_id", default=None)
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$")
_NO_ID = "0" * 32


def parse(value: str | None) -> str | None:
    """The trace id of a W3C ``traceparent`` value, or None when it is absent or malformed (version ff, zero ids)."""
    text = (value or "").strip().lower()
    match = _TRACEPARENT.match(text)
    if match is None or text.startswith("ff") or match.group(1) == _NO_ID or match.group(2) == "0" * 16:
        return None
    return match.group(1)


def new_id() -> str:
    return secrets.token_hex(16)


def traceparent() -> str | None:
    """A ``traceparent`` for an outgoing call of the current trace (a new span id), or None outside a trace."""
    tid = trace_id.get()
    return f"00-{tid}-{secrets.token_hex(8)}-01" if tid else None


def metadata() -> dict[str, Any]:
    """What a chat turn adds to Rasa's message metadata: ``{"traceparent": …}``, or nothing outside a trace."""
    value = traceparent()
    return {"traceparent": value} if value else {}


_installed = False


def install_log_records() -> None:
    """Every log record made while a trace is current carries ``trace_id`` (the JSON log lines show it)."""
    global _installed
    if _installed:
        return
    make = logging.getLogRecordFactory()

    def with_trace(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make(*args, **kwargs)
        if (tid := trace_id.get()) is not None:
            record.trace_id = tid
        return record

    logging.setLogRecordFactory(with_trace)
    _installed = True
