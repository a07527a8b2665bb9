"""Inbound conversation channels: one adapter per channel on the channel-neutral core in api/chat.

An adapter verifies its callers (the web widget's session token; later Slack's signature, Teams' JWT, a
mailbox's sender policy), maps the channel's user to an employee, hands each user text to
``api.chat.service.post_message`` and renders the turn back in the channel's own format. A new channel
adds its member to :class:`Channel` (and to the ``chat_conversations.channel`` check) and a package here.
"""

from __future__ import annotations

from enum import StrEnum


class Channel(StrEnum):
    """Where a conversation takes place; also sent to Rasa in the turn's metadata."""

    web = "web"
