"""Telling the requester about their ticket on the channel it came from (issue #12).

Each channel package that can reach a requester after the conversation has an ``outbound`` module with

    async def notify(conn: Conn, settings: Settings, *, ticket: dict[str, Any], conversation: dict[str, Any] | None,
                     text: str, buttons: Sequence[Button] = ()) -> None

``ticket`` is the ticket's row; ``conversation`` its chat conversation (with ``channel_ref``), None for a ticket
that did not start in a chat (e-mail). ``buttons`` (the CSAT survey's 1–5, api/csat) are shown as the channel shows
a bot message's buttons, and a press comes back as the button's payload, the user's next message; a mail has no
buttons (e-mail ignores them: a choice by mail is a link in ``text``).

``notify`` raises a :class:`api.errors.DeskmateError` when the channel refuses or is down, so the alert delivery that called it retries with backoff and, in the end, dead-letters.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any, Protocol

from api.channels import Channel
from api.chat.models import Button
from api.db import Conn
from api.settings import Settings


class Notify(Protocol):
    async def __call__(self, conn: Conn, settings: Settings, *, ticket: dict[str, Any],
                       conversation: dict[str, Any] | None, text: str, buttons: Sequence[Button] = ()) -> None: ...


def notifier(channel: Channel) -> Notify:
    """The channel's ``notify`` (api/channels/<channel>/outbound.py)."""
    module = importlib.import_module(f"api.channels.{channel.value}.outbound")
    return module.notify  # type: ignore[no-any-return]
