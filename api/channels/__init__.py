"""Inbound conversation channels: one adapter per channel on the channel-neutral core in api/chat.

An adapter verifies its callers (the web widget's session token; later Slack's signature, Teams' JWT, a
mailbox's sender policy), maps the channel's user to an employee, hands each user text to
``api.chat.service.post_message`` and renders the turn back in the channel's own format. A new channel
adds its member to :class:`Channel` (and to the ``chat_conversations.channel`` check) and a package here.

A channel whose conversations live on the channel's side (a Slack thread, a Teams chat) names them with a
``channel_key`` (``api.chat.service.conversation_for`` finds or starts the conversation for it, once) and keeps
where to reply in ``channel_ref``; ``api.chat.service.first_delivery`` drops an inbound event seen before
(Slack's ``event_id``, a Teams activity id), so a retry or a replay is never a second turn.
"""

from __future__ import annotations

from enum import StrEnum


class Channel(StrEnum):
    """Where a conversation takes place; also sent to Rasa in the turn's metadata."""

    web = "web"
    slack = "slack"
    teams = "teams"
    email = "email"


# The ticket source a conversation's ticket carries (tickets.source_type).
TICKET_SOURCE = {Channel.web: "CHATBOT", Channel.slack: "SLACK", Channel.teams: "TEAMS", Channel.email: "EMAIL"}
