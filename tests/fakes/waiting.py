"""Waiting on a condition with a deadline (never a bare sleep): for tests that watch other processes."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(condition: Callable[[], object], timeout: float, what: str, *, every_s: float = 0.05) -> object:
    """Polls ``condition`` until it returns something truthy (returned); AssertionError naming ``what`` after
    ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(every_s)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
