"""Where a ticket came from, and telling its requester there (the alert channel ORIGIN, docs/channels.md).

A ticket opened in a chat — by the bot, by the widget's button or by a workflow run the chat started — answers on
that conversation's channel (the widget's transcript, the Slack thread, the Teams chat); a ticket from a mailbox
answers in the mail thread. Tickets from anywhere else (the REST API, GLPI…) have no origin to answer on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from api import sql
from api.channels import Channel
from api.channels.outbound import notifier
from api.chat.models import Button
from api.db import Conn
from api.settings import Settings

Q = sql.load("api.channels")
NO_ORIGIN = "the ticket did not come from a chat or a mailbox: there is no conversation to answer on"


@dataclass(frozen=True)
class Origin:
    channel: Channel
    ticket: dict[str, Any]
    conversation: dict[str, Any] | None  # None for a mail thread

    @property
    def address(self) -> str:
        """The delivery's recipient as the history shows it: ``slack:<conversation>``, ``email:<ticket>``…"""
        where = self.conversation["id"] if self.conversation else self.ticket["number"]
        return f"{self.channel}:{where}"


async def origin_of(conn: Conn, *, ticket_id: int) -> Origin | None:
    """The ticket's origin, or None when it has none to answer on."""
    row = await (await conn.execute(Q.ticket_origin, {"ticket_id": ticket_id})).fetchone()
    if row is None:
        return None
    ticket = {k: row[k] for k in ("id", "number", "title", "source_type", "source_reference", "requester_id")}
    if row["conversation_id"] is not None:
        conversation = {"id": row["conversation_id"], "channel": row["channel"], "channel_key": row["channel_key"],
                        "channel_ref": row["channel_ref"], "employee_id": row["employee_id"]}
        return Origin(Channel(row["channel"]), ticket, conversation)
    if row["source_type"] == "EMAIL":
        return Origin(Channel.email, ticket, None)
    return None


async def tell(conn: Conn, settings: Settings, *, origin: Origin, text: str, buttons: Sequence[Button] = ()) -> None:
    """Says ``text`` (with ``buttons`` in a chat) to the requester on the ticket's origin; ChannelDeliveryFailed when
    the channel refuses."""
    await notifier(origin.channel)(conn, settings, ticket=origin.ticket, conversation=origin.conversation, text=text,
                                   buttons=buttons)
