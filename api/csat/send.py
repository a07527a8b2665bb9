"""The worker's part of CSAT: asking the requester on the ticket's origin channel, exactly once.

The survey row is locked for the whole send and marked 'sent' in the same transaction, so a second job for it (a
retry, a duplicate) waits and then finds it sent. A send that fails for a while (ChannelDeliveryFailed, not
permanent) rolls back and the job is retried with backoff; one that fails for good marks the survey 'failed'. A
send that succeeded and whose commit then failed (the worker died in between) is the one case asked twice.

Where it asks: a chat (widget, Slack, Teams) gets a bot message with 1–5 buttons (``service.buttons``) through the
channel's ``notify``; an e-mail ticket a mail in its thread with five signed single-use links (``links``) to the
rating page; a ticket with no origin (the REST API, GLPI…) is not asked ('skipped', docs/csat.md), nor one reopened before its
survey went out (its next resolution queues the survey again, api/csat/queue.py).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from api import sql
from api.channels import Channel, origin
from api.chat.models import Button
from api.csat import links
from api.csat import service as csat
from api.db import Conn
from api.errors import ChannelDeliveryFailed
from api.settings import Settings

Q = sql.load("api.csat")
DAY_S = 86_400
NOT_THE_REQUESTER = "the ticket's conversation is not the requester's"
REOPENED = "the ticket was reopened before the survey went out; its next resolution asks"
DONE = frozenset({"resolved", "closed"})


def mail_text(settings: Settings, survey: dict[str, Any], origin_: origin.Origin, nonce: str, expires_at: int) -> str:
    """The survey as a mail: the question and one signed link per score."""
    lines = [csat.QUESTION.format(number=origin_.ticket["number"], title=origin_.ticket["title"]),
             "Choose a score (the link opens a page where you can add a comment):", ""]
    lines += [f"  {n} — {links.url(settings, links.Link(survey['id'], n, nonce, expires_at))}" for n in range(1, 6)]
    return "\n".join([*lines, "", csat.SCALE])


async def _ask(conn: Conn, settings: Settings, survey: dict[str, Any], found: origin.Origin) -> dict[str, Any]:
    """Asks on the origin; the survey's new fields. Raises ChannelDeliveryFailed."""
    fields: dict[str, Any] = {"channel": found.channel.value, "conversation_id": None, "token_hash": None,
                              "token_expires_at": None}
    if found.channel is Channel.email:
        nonce, expires_at = links.new_nonce(), int(time.time()) + settings.csat_link_days * DAY_S
        await origin.tell(conn, settings, origin=found, text=mail_text(settings, survey, found, nonce, expires_at))
        return fields | {"token_hash": links.nonce_hash(nonce), "token_expires_at": datetime.fromtimestamp(expires_at, UTC)}
    assert found.conversation is not None
    question = f"{csat.QUESTION.format(number=found.ticket['number'], title=found.ticket['title'])} {csat.SCALE}"
    await origin.tell(conn, settings, origin=found, text=question,
                      buttons=[Button(**b) for b in csat.buttons(survey["id"])])
    return fields | {"conversation_id": found.conversation["id"]}


async def _skip(conn: Conn, survey_id: int, *, status: str, error: str, channel: str | None = None) -> str:
    await conn.execute(Q.mark_unsent, {"id": survey_id, "status": status, "error": error, "channel": channel})
    return status


async def send_survey(conn: Conn, settings: Settings, *, survey_id: int) -> str:
    """Asks the survey's requester once; returns the survey's status afterwards. Raises ChannelDeliveryFailed (not
    permanent) for the job to be retried."""
    async with conn.transaction():
        survey = await (await conn.execute(Q.lock_survey, {"id": survey_id})).fetchone()
        if survey is None or survey["status"] != "queued":
            return survey["status"] if survey else "missing"
        if survey["ticket_status"] not in DONE:
            return await _skip(conn, survey_id, status="skipped", error=REOPENED)
        if not settings.csat_enabled:
            return await _skip(conn, survey_id, status="skipped", error="CSAT is turned off (DESKMATE_CSAT_ENABLED)")
        found = await origin.origin_of(conn, ticket_id=survey["ticket_id"])
        if found is None:
            return await _skip(conn, survey_id, status="skipped", error=origin.NO_ORIGIN)
        if found.conversation is not None and found.conversation["employee_id"] != survey["requester_id"]:
            return await _skip(conn, survey_id, status="skipped", error=NOT_THE_REQUESTER, channel=found.channel)
        try:
            async with conn.transaction():  # a refusal for good leaves nothing of the attempt
                fields = await _ask(conn, settings, dict(survey), found)
        except ChannelDeliveryFailed as exc:
            if not exc.permanent:
                raise
            return await _skip(conn, survey_id, status="failed", error=exc.detail, channel=found.channel)
        await conn.execute(Q.mark_sent, {"id": survey_id, **fields})
    return "sent"
