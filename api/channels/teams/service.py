"""The Teams adapter: take a verified activity (once), then answer it in the background through the chat core.

The request only verifies, checks the tenant and takes the activity id (``first_delivery``), then answers 202; the
turn — who the user is, Rasa, the replies to the Bot Connector — runs as a task the channel keeps and awaits on
shutdown. Teams gives up on a request after about 15 s and a turn may wait on Rasa (up to its timeout), a member
profile lookup and 429 back-offs, so the turn never holds Teams' request open.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

import httpx
from microsoft_agents.activity import Activity

from api.channels import Channel
from api.channels.teams import cards, identity
from api.channels.teams.auth import TokenVerifier
from api.channels.teams.connector import BotConnector
from api.channels.teams.settings import TeamsSettings
from api.channels.turns import take_turn
from api.chat import service as chat
from api.chat.rasa import RasaClient
from api.db import Conn, Pool
from api.errors import DeskmateError, Forbidden, ValidationFailed
from api.kb.embedding import Embedder
from api.settings import Settings

log = logging.getLogger(__name__)
MENTION = re.compile(r"<at>(.*?)</at>", re.IGNORECASE | re.DOTALL)
UNKNOWN_USER = ("I couldn't match your Teams account to a deskmate user, so I'm answering without your profile: "
                "I can't see or open tickets in your name. Ask the service desk to add your work address.")


class TeamsChannel:
    """The Teams adapter's long-lived parts: token verifier, Bot Connector client, directory, running turns."""

    def __init__(self, settings: TeamsSettings, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.settings = settings
        self.connector = BotConnector(settings, transport=transport)
        self.verifier = TokenVerifier(settings, self.connector.client)
        self.directory = identity.Directory(self.connector, settings.identity_cache_s)
        self._turns: set[asyncio.Task[None]] = set()

    def run(self, turn: Coroutine[Any, Any, None]) -> None:
        """Runs the turn in the background; kept until it ends so shutdown can wait for it."""
        task = asyncio.create_task(turn)
        self._turns.add(task)
        task.add_done_callback(self._turns.discard)

    async def idle(self) -> None:
        """Waits for every running turn."""
        while self._turns:
            await asyncio.gather(*self._turns, return_exceptions=True)

    async def aclose(self) -> None:
        await self.idle()
        await self.connector.aclose()


@dataclass(frozen=True)
class Inbound:
    """A message activity taken for a turn: the activity, its raw sender (may carry a UPN), the user's text and
    the tenant; or, with ``press``, an Approve / Deny submit from an approval card (a decision, not a turn)."""

    activity: Activity
    sender: dict[str, Any]
    text: str
    tenant: str | None
    press: cards.ApprovalPress | None = None


def parse(body: dict[str, Any]) -> Activity:
    try:
        activity = Activity.model_validate(body)
    except ValueError as exc:
        raise ValidationFailed("The body is not a Bot Framework activity.") from exc
    if activity.conversation is None or activity.from_property is None or activity.recipient is None:
        raise ValidationFailed("An activity needs its conversation, from and recipient.")
    return activity


def user_text(activity: Activity) -> str:
    """What the user said: an Adaptive Card's submitted payload, else the text without the bot's @mention
    (other people's mentions keep their names)."""
    if isinstance(activity.value, dict) and isinstance(activity.value.get("payload"), str):
        return str(activity.value["payload"]).strip()
    activity.remove_recipient_mention()
    return MENTION.sub(lambda m: m.group(1), activity.text or "").strip()


def tenant_of(activity: Activity, body: dict[str, Any]) -> str | None:
    channel_data = body.get("channelData") if isinstance(body.get("channelData"), dict) else {}
    tenant = (channel_data or {}).get("tenant")
    return (activity.conversation.tenant_id if activity.conversation else None) or (
        tenant.get("id") if isinstance(tenant, dict) else None)


async def accept(conn: Conn, settings: TeamsSettings, activity: Activity, body: dict[str, Any]) -> Inbound | None:
    """The message to answer (or approval press to decide), or None: not a message, nothing said, a malformed
    approval submit, or an activity already taken (a retry)."""
    tenant = tenant_of(activity, body)
    if not settings.tenant_allowed(tenant):
        raise Forbidden("This Microsoft 365 tenant may not use this deskmate.")
    if activity.type != "message":
        return None
    approval = isinstance(activity.value, dict) and cards.APPROVAL in activity.value
    press = cards.approval_press(activity.value) if approval else None
    text = "" if approval else user_text(activity)
    if not (text or press):
        return None
    if not activity.id:
        raise ValidationFailed("A message activity needs its id.")
    assert activity.conversation is not None
    if not await chat.first_delivery(conn, channel=Channel.teams, event_id=f"{activity.conversation.id}:{activity.id}"):
        return None
    sender = body.get("from") if isinstance(body.get("from"), dict) else {}
    return Inbound(activity, sender or {}, text, tenant, press)


def reference(inbound: Inbound) -> dict[str, Any]:
    """Where replies and notifications go: serviceUrl, conversation, bot, user and tenant."""
    ref = inbound.activity.get_conversation_reference().model_dump(mode="json", by_alias=True, exclude_none=True)
    return {**ref, "tenant": {"id": inbound.tenant}}


async def reply(channel: TeamsChannel, activity: Activity, fields: dict[str, Any]) -> None:
    """Posts a reply to the activity: ``fields`` is ``{"text": …}`` or ``{"attachments": […]}``."""
    body = activity.create_reply(fields.get("text")).model_dump(mode="json", by_alias=True, exclude_none=True)
    body.update(fields)
    if not body.get("text"):  # a card alone
        body.pop("text", None)
    assert activity.service_url is not None and activity.conversation is not None
    await channel.connector.send(activity.service_url, activity.conversation.id, body, reply_to=activity.id)


async def _turn(pool: Pool, settings: Settings, rasa: RasaClient, channel: TeamsChannel, inbound: Inbound,
                embedder: Embedder | None = None) -> None:
    activity = inbound.activity
    assert activity.conversation is not None and activity.from_property is not None
    user = activity.from_property.aad_object_id or activity.from_property.id
    async with pool.connection() as conn:  # not held during the turn: the bot's actions call back into the api
        employee = await identity.employee(conn, await channel.directory.address(activity, inbound.sender))
        # one deskmate conversation per Teams conversation *and* person: in a channel thread several people write,
        # and each must act as themselves, never as whoever wrote first
        conversation_id = str(await chat.conversation_for(
            conn, channel=Channel.teams, key=f"{activity.conversation.id}|{user}", employee=employee,
            channel_user=user, ref=reference(inbound)))
        first = not await chat.transcript(conn, conversation_id=conversation_id, limit=1)
    if employee is None and first:
        await reply(channel, activity, {"text": UNKNOWN_USER})
    try:
        turn = await take_turn(pool, settings, rasa, conversation_id=conversation_id, text=inbound.text,
                               embedder=embedder)
    except DeskmateError as exc:  # too long, too many: the user is told, as the widget shows the problem
        await reply(channel, activity, {"text": exc.detail})
        return
    for message in turn.messages:
        await reply(channel, activity, cards.render(message))


async def answer(pool: Pool, settings: Settings, rasa: RasaClient, channel: TeamsChannel,
                 inbound: Inbound, embedder: Embedder | None = None) -> None:
    """The background turn; failures are logged (the activity is taken, so Teams' retry would be dropped)."""
    try:
        await _turn(pool, settings, rasa, channel, inbound, embedder)
    except Exception:
        log.exception("teams turn failed", extra={"activity_id": inbound.activity.id})
