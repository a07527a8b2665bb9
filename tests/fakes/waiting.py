"""Waiting on a condition with a deadline (never a bare sleep): for tests that watch other processes or threads."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(condition: Callable[[], object], timeout: float, what: str, *, every_s: float = 0.05) -> object:
    """Polls ``condition`` until it returns something truthy (returned); AssertionError naming ``what`` after
    ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(every_s)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


async def until(check: Callable[[], Awaitable[T | None]], *, timeout_s: float, what: str, every_s: float = 0.2) -> T:
    """``check()``'s first truthy answer, asked again every ``every_s`` until ``timeout_s``; fails naming ``what``."""
    deadline = time.monotonic() + timeout_s
    while True:
        answer = await check()
        if answer:
            return answer
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s:g} s: {what}")
        await asyncio.sleep(every_s)
