"""Workflow approvals in Teams: the approver gets the request as an Adaptive Card in their personal chat with the
bot, with Approve and Deny; a press decides it as that approver (``decided_via`` "teams").

A bot can only write first into a conversation it already has, so the card goes to the approver's newest personal
Teams conversation with the bot (its stored reference); an approver who never wrote to the bot is skipped, and
decides by e-mail or in the app. A press counts for the deskmate user with the presser's Teams address (as every
Teams turn resolves its user), and api.workflows.approval_service decides whether they may: the named approver (or
a member of the role or team asked, or an admin), never the requester, once, before the request expires. Anyone
else is told so and nothing changes. After the decision the card is replaced by one that says who decided what.
"""

from __future__ import annotations

import logging

from psycopg_pool import AsyncConnectionPool

from api import sql
from api.auth import service as people
from api.channels.teams import cards, identity, outbound
from api.channels.teams.service import Inbound, TeamsChannel, reply
from api.db import Conn
from api.errors import ChannelDeliveryFailed, Conflict, Forbidden, NotFound
from api.settings import Settings
from api.workflows import approval_service

Q = sql.load("api.channels.teams")
log = logging.getLogger(__name__)
NOT_YOUR_APPROVAL = "This approval is not yours."
NO_CHAT = ("skipped: the approver has no personal Teams chat with the bot (a proactive message needs one); "
           "they decide by e-mail or in the app")


async def send(conn: Conn, settings: Settings, *, approval_id: int, to: str) -> str:
    """The job: posts the approval card to the personal Teams chat of the approver with the address ``to``."""
    if not settings.teams.configured:
        return "not sent: Microsoft Teams is not configured"
    chat = await (await conn.execute(Q.personal_conversation, {"email": to})).fetchone()
    request = await approval_service.get(conn, approval_id=approval_id)
    if request.status != "pending":
        return "decided: not sent"
    if chat is None:
        log.info("teams approval card skipped", extra={"approval_id": approval_id, "reason": NO_CHAT})
        return NO_CHAT
    await outbound.post(settings, chat["channel_ref"], cards.attachment(cards.approval_card(request)))
    return "sent"


async def decide(pool: AsyncConnectionPool[Conn], channel: TeamsChannel, inbound: Inbound) -> None:
    """The background press; failures are logged (the activity is taken, so Teams' retry would be dropped)."""
    try:
        async with pool.connection() as conn:
            await _decide(conn, channel, inbound)
    except Exception:
        log.exception("teams approval press failed", extra={"activity_id": inbound.activity.id})


async def _decide(conn: Conn, channel: TeamsChannel, inbound: Inbound) -> None:
    activity, press = inbound.activity, inbound.press
    assert press is not None
    employee = await identity.employee(conn, await channel.directory.address(activity, inbound.sender))
    try:
        if employee is None:
            raise NotFound("unknown Teams user")
        principal = await people.principal_by_id(conn, user_id=employee.id)
        request = await approval_service.decide(conn, approval_id=press.approval_id, decision=press.decision,
                                                comment=None, principal=principal, via="teams")
    except NotFound:
        await reply(channel, activity, {"text": NOT_YOUR_APPROVAL})
        return
    except (Conflict, Forbidden) as exc:
        await reply(channel, activity, {"text": exc.detail})
        return
    decided = f"{cards.DONE[press.decision]} by {principal.email}."
    assert activity.service_url is not None and activity.conversation is not None
    if activity.reply_to_id:  # the card the press came from: replaced, its buttons gone
        try:
            await channel.connector.update(activity.service_url, activity.conversation.id, activity.reply_to_id,
                                           {"type": "message", **cards.attachment(
                                               cards.approval_card(request, decided=decided))})
            return
        except ChannelDeliveryFailed as exc:
            log.warning("teams approval card not replaced", extra={"error": exc.detail})
    await reply(channel, activity, {"text": decided})
