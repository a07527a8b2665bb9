"""The time a turn spends waiting for the action server, measured inside Rasa, and the turn's trace id.

Importing this module wraps Rasa's ``RemoteAction.run`` (every custom action and form validation goes through it)
with a clock; :class:`Turn` collects what the actions of one message took. deskmate's channel (bot/channel.py)
returns it to the gateway as ``timing.action_s``, which the api's metrics split out of Rasa's time
(``deskmate_chat_turn_part_seconds{part="action"}``, docs/operations.md), and logs the turn with the gateway's
trace id (``metadata.traceparent``).
"""
from __future__ import annotations

import contextvars
import functools
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

import rasa.core.actions.action as rasa_actions

_spent: contextvars.ContextVar[list[float] | None] = contextvars.ContextVar("deskmate_action_time", default=None)
_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$")


def _timed(run: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    @functools.wraps(run)
    async def timed(self: Any, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await run(self, *args, **kwargs)
        finally:
            if (spent := _spent.get()) is not None:
                spent.append(time.perf_counter() - started)

    timed._deskmate_timed = True  # type: ignore[attr-defined]
    return timed


if not getattr(rasa_actions.RemoteAction.run, "_deskmate_timed", False):
    rasa_actions.RemoteAction.run = _timed(rasa_actions.RemoteAction.run)  # type: ignore[method-assign]


def trace_id(metadata: dict[str, Any] | None) -> str | None:
    """The gateway's trace id in the message metadata (W3C ``traceparent``), or None."""
    value = (metadata or {}).get("traceparent")
    match = _TRACEPARENT.match(value.strip().lower()) if isinstance(value, str) else None
    return match.group(1) if match else None


class Turn:
    """``with Turn() as turn: …handle the message…``; then ``turn.action_s`` is the time spent in actions."""

    def __init__(self) -> None:
        self.spent: list[float] = []
        self.started = time.perf_counter()
        self._token: contextvars.Token[list[float] | None] | None = None

    def __enter__(self) -> Turn:
        self._token = _spent.set(self.spent)
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._token is not None:
            _spent.reset(self._token)
        self.seconds = time.perf_counter() - self.started

    @property
    def action_s(self) -> float:
        return sum(self.spent)

    def report(self) -> dict[str, Any]:
        """What the channel's answer carries under ``timing``."""
        return {"action_s": round(self.action_s, 6), "actions": len(self.spent)}
