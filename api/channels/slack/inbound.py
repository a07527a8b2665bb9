"""SlackChannel: the slack-bolt app that takes Slack's requests, and the turns it runs in the background.

Requests come to the Request URLs (api/channels/slack/routes.py) or, with an app-level token, over Socket Mode.

Bolt verifies the signature (401 for a bad one or a timestamp over 5 minutes old) and answers url_verification.
Then :meth:`SlackChannel._admit` drops what is not ours to answer, with a 200 so Slack does not retry: a request
from another workspace, and Slack's own retry (``X-Slack-Retry-Num``) of an event delivered before
(``first_delivery``). The same delivery again without that header is a replay: 401, nothing done. A DM or a mention is acknowledged at once and its turn runs as an asyncio task the channel keeps
and waits for on shutdown; a turn that fails is logged and the user is told so.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from slack_bolt.adapter.fastapi.async_handler import AsyncSlackRequestHandler
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from starlette.datastructures import State

from api.auth import service as people
from api.channels import Channel
from api.channels.slack import approvals, render
from api.channels.slack.client import post, update, web_client
from api.channels.slack.people import SlackPeople
from api.channels.turns import take_turn
from api.chat import service as chat
from api.chat.models import Message
from api.db import Conn
from api.errors import ChannelDeliveryFailed, Conflict, DeskmateError, Forbidden, NotFound
from api.settings import Settings
from api.workflows import approval_service

log = logging.getLogger(__name__)
SORRY = "Sorry, something went wrong on my side and I couldn't answer that. Please try again in a moment."
ANONYMOUS = ("I couldn't match your Slack account to a deskmate employee (your Slack profile's e-mail address is "
             "not one the service desk knows), so I'm helping you without signing you in: I can answer questions, "
             "but I can't see your tickets or run requests for you.")
NOT_YOURS = "That conversation belongs to someone else. Message me directly, or mention me in a new thread."
ACCOUNT_CHANGED = ("Your deskmate account has changed since this conversation started, so I can't continue it. "
                   "Please contact the service desk.")
HELLO = "Hi! What can I help you with?"
NOT_YOUR_APPROVAL = "This request is not yours to decide."
DROPPED = BoltResponse(status=200, body="")
# A signed request whose delivery was taken before, without Slack's retry header: someone replays it.
REPLAYED = BoltResponse(status=401, body='{"error": "replayed request"}',
                        headers={"content-type": "application/json"})
RETRY_HEADER = "x-slack-retry-num"


@dataclass(frozen=True)
class Place:
    """Where a conversation's replies go: a channel (a DM is one) and, in a channel, the thread."""

    team: str
    channel: str
    thread_ts: str | None

    def ref(self) -> dict[str, Any]:
        return {"team": self.team, "channel": self.channel, "thread_ts": self.thread_ts}


class SlackChannel:
    """One per app (``app.state.slack``); ``handler.handle(request)`` takes Slack's HTTP requests."""

    def __init__(self, settings: Settings, state: State) -> None:
        slack = settings.slack
        assert slack.signing_secret is not None
        self.settings, self.state = settings, state
        self.client = web_client(slack)
        self.people = SlackPeople(self.client, slack.user_cache_ttl_s)
        self.bolt = AsyncApp(client=self.client, signing_secret=slack.signing_secret.get_secret_value(),
                             process_before_response=True, logger=logging.getLogger("slack_bolt"))
        self.bolt.use(self._admit)
        self.bolt.event("message")(self._on_message)
        self.bolt.event("app_mention")(self._on_mention)
        self.bolt.action(render.BUTTON_ACTION)(self._on_button)
        self.bolt.action(approvals.ACTION)(self._on_approval)
        self.handler = AsyncSlackRequestHandler(self.bolt)
        self.socket: AsyncSocketModeHandler | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._connecting: asyncio.Task[None] | None = None
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    async def start(self) -> None:
        """With an app-level token, connects to Slack over Socket Mode (the same events, through a WebSocket).

        In the background: slack_sdk retries a failed connection every few seconds, and the api starts anyway.
        """
        app_token = self.settings.slack.app_token
        if app_token is not None:  # its aiohttp session needs the running loop: made here, not in __init__
            self.socket = AsyncSocketModeHandler(self.bolt, app_token.get_secret_value())
            self._connecting = asyncio.create_task(self.socket.connect_async())

    async def close(self, timeout_s: float = 30.0) -> None:
        """Disconnects Socket Mode, waits for the turns under way (at most ``timeout_s``), cancels what is left."""
        if self.socket is not None:
            await self.socket.close_async()
        if self._connecting is not None:
            self._connecting.cancel()
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=timeout_s)
            for task in pending:
                task.cancel()

    # -- admission: the workspace bound to this deployment, each delivery once

    async def _admit(self, body: dict[str, Any], context: AsyncBoltContext, request: AsyncBoltRequest,
                     next: Callable[[], Awaitable[None]]) -> BoltResponse | None:  # noqa: A002 - Bolt's name
        bound = self.settings.slack.team_id or (context.authorize_result.team_id if context.authorize_result else None)
        team = body.get("team_id") or (body.get("team") or {}).get("id")
        if team != bound:
            log.info("slack request from another workspace dropped", extra={"team": team})
            return DROPPED
        delivery = _delivery_id(body)
        if delivery is not None:
            async with self.state.pool.connection() as conn:
                if not await chat.first_delivery(conn, channel=Channel.slack, event_id=delivery):
                    if request.headers.get(RETRY_HEADER):  # Slack's own retry of a delivery it made: acknowledged
                        log.info("slack retry of a delivery seen before dropped", extra={"event_id": delivery})
                        return DROPPED
                    log.warning("slack request replayed: refused", extra={"event_id": delivery})
                    return REPLAYED
        await next()
        return None

    # -- listeners: quick checks, then the turn in the background

    async def _on_message(self, event: dict[str, Any], body: dict[str, Any]) -> None:
        if event.get("channel_type") != "im" or event.get("subtype") or event.get("bot_id") or not event.get("user"):
            return  # only people's DMs; bots (this one too), edits and joins are not turns
        place = Place(body["team_id"], event["channel"], event.get("thread_ts"))
        key = f"{place.team}:{place.channel}"
        self._spawn(place, key, self._turn(place, key=key, user=event["user"], text=event.get("text") or ""))

    async def _on_mention(self, event: dict[str, Any], body: dict[str, Any], context: AsyncBoltContext) -> None:
        if event.get("bot_id") or not event.get("user"):
            return
        place = Place(body["team_id"], event["channel"], event.get("thread_ts") or event["ts"])
        key = f"{place.team}:{place.channel}:{place.thread_ts}"
        text = (event.get("text") or "").replace(f"<@{context.bot_user_id}>", "").strip()
        self._spawn(place, key, self._turn(place, key=key, user=event["user"], text=text))

    async def _on_button(self, ack: Callable[[], Awaitable[Any]], body: dict[str, Any],
                         action: dict[str, Any]) -> None:
        await ack()
        try:
            conversation_id = str(UUID(str(action.get("block_id", "")).removeprefix(render.BLOCK_PREFIX)))
        except ValueError:
            log.warning("slack button without a conversation", extra={"block_id": action.get("block_id")})
            return
        user, channel = body["user"]["id"], (body.get("channel") or {}).get("id", "")
        thread_ts = (body.get("message") or {}).get("thread_ts")
        place = Place(body["team"]["id"], channel, thread_ts)
        key = f"{place.team}:{channel}" if channel.startswith("D") else f"{place.team}:{channel}:{thread_ts}"
        self._spawn(place, key, self._press(
            conversation_id, user=user, payload=str(action.get("value") or ""), place=place))

    async def _on_approval(self, ack: Callable[[], Awaitable[Any]], body: dict[str, Any],
                           action: dict[str, Any]) -> None:
        await ack()
        decision = approvals.ACTION.match(str(action.get("action_id")))
        if decision is None or not str(action.get("value", "")).isdigit():
            return
        place = Place(body["team"]["id"], (body.get("channel") or {}).get("id", ""), None)
        message_ts = (body.get("container") or {}).get("message_ts") or (body.get("message") or {}).get("ts", "")
        approval_id = int(action["value"])
        self._spawn(place, f"approval:{approval_id}", self._decide(
            place, user=body["user"]["id"], approval_id=approval_id, decision=decision.group(1),
            message_ts=message_ts))

    def _spawn(self, place: Place, key: str, work: Coroutine[Any, Any, None]) -> None:
        """Runs ``work`` after the earlier work of the same ``key`` (a conversation's turns, in order), in a task
        the channel keeps until it is done."""
        task = asyncio.create_task(self._guarded(place, key, work))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _guarded(self, place: Place, key: str, work: Coroutine[Any, Any, None]) -> None:
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            try:
                await work
            except DeskmateError as exc:
                if exc.status >= 500:
                    log.error("slack turn failed", extra={"error": exc.detail, "kind": type(exc).__name__})
                await self._tell(place, exc.detail if exc.status < 500 else SORRY)
            except Exception:
                log.exception("slack turn failed")
                await self._tell(place, SORRY)

    # -- turns

    async def _turn(self, place: Place, *, key: str, user: str, text: str) -> None:
        if not text:
            await self._tell(place, HELLO)
            return
        async with self.state.pool.connection() as conn:
            employee = await self.people.employee(conn, user)
            conversation_id = str(await chat.conversation_for(
                conn, channel=Channel.slack, key=key, employee=employee, channel_user=user, ref=place.ref()))
            conversation = await chat.get_conversation(conn, conversation_id=conversation_id)
            allowed = await self._allowed(conn, place, conversation, user=user,
                                          employee_id=employee.id if employee else None)
        if allowed:
            await self._run(place, conversation_id, text)

    async def _press(self, conversation_id: str, *, user: str, payload: str, place: Place) -> None:
        """A button press: its payload is the user's next turn, in the conversation the button came from."""
        async with self.state.pool.connection() as conn:
            conversation = await chat.get_conversation(conn, conversation_id=conversation_id)
            if conversation["channel"] != Channel.slack or conversation["channel_user"] != user:
                await self._ephemeral(place, user, NOT_YOURS)
                return
            ref = conversation["channel_ref"]
            place = Place(ref["team"], ref["channel"], ref.get("thread_ts"))
            employee = await self.people.employee(conn, user)
            allowed = await self._allowed(conn, place, conversation, user=user,
                                          employee_id=employee.id if employee else None)
        if allowed:
            await self._run(place, conversation_id, payload)

    async def _decide(self, place: Place, *, user: str, approval_id: int, decision: str, message_ts: str) -> None:
        """An Approve/Deny press: decided as the deskmate user with the presser's e-mail address, if they may."""
        async with self.state.pool.connection() as conn:
            employee = await self.people.employee(conn, user)
            try:
                if employee is None:
                    raise NotFound("unknown Slack user")
                principal = await people.principal_by_id(conn, user_id=employee.id)
                request = await approval_service.decide(conn, approval_id=approval_id, decision=decision,
                                                        comment=None, principal=principal, via="slack")
            except NotFound:
                await self._ephemeral(place, user, NOT_YOUR_APPROVAL)
                return
            except (Conflict, Forbidden) as exc:
                await self._ephemeral(place, user, exc.detail)
                return
        await update(self.client, channel=place.channel, ts=message_ts, text=f"{approvals.DONE[decision]}.",
                     blocks=approvals.decided_blocks(request, decision, principal.email))

    async def _allowed(self, conn: Conn, place: Place, conversation: dict[str, Any], *, user: str,
                       employee_id: int | None) -> bool:
        """Only the conversation's own Slack user, still the employee (or still anonymous) it started as."""
        conversation_id = str(conversation["id"])
        if conversation["channel_user"] != user:
            await self._tell(place, NOT_YOURS)
            return False
        if conversation["employee_id"] is not None and conversation["employee_id"] != employee_id:
            await self._tell(place, ACCOUNT_CHANGED)
            return False
        if conversation["employee_id"] is None and not await chat.transcript(conn, conversation_id=conversation_id,
                                                                             limit=1):
            await self._tell(place, ANONYMOUS)  # once: the conversation's first message
            await chat.store(conn, conversation_id, "bot", ANONYMOUS)
        return True

    async def _run(self, place: Place, conversation_id: str, text: str) -> None:
        """The turn itself, holding no connection (the bot's actions call back into the api meanwhile)."""
        turn = await take_turn(self.state.pool, self.settings, self.state.rasa, conversation_id=conversation_id, text=text,
                               embedder=getattr(self.state, "embedder", None))
        for message in turn.messages:
            await self._show(place, message, conversation_id)

    # -- saying things in Slack

    async def _show(self, place: Place, message: Message, conversation_id: str) -> None:
        await post(self.client, channel=place.channel, thread_ts=place.thread_ts, text=render.fallback(message),
                   blocks=render.blocks(message, conversation_id=conversation_id))

    async def _tell(self, place: Place, text: str) -> None:
        """Plain text in the conversation's place; a failure to say it is logged, never raised."""
        try:
            await post(self.client, channel=place.channel, thread_ts=place.thread_ts, text=text)
        except ChannelDeliveryFailed as exc:
            log.error("slack message not delivered", extra={"error": exc.detail, "channel": place.channel})

    async def _ephemeral(self, place: Place, user: str, text: str) -> None:
        try:
            await self.client.chat_postEphemeral(channel=place.channel, user=user, text=text, thread_ts=place.thread_ts)
        except Exception as exc:  # noqa: BLE001 - a courtesy note: logged, never raised
            log.warning("slack ephemeral not delivered", extra={"kind": type(exc).__name__})


def _delivery_id(body: dict[str, Any]) -> str | None:
    """What makes a delivery unique: the event's id, or the button press's action_ts and user."""
    if body.get("type") == "event_callback" and body.get("event_id"):
        return str(body["event_id"])
    if body.get("type") == "block_actions" and body.get("actions"):
        return f"action:{body['actions'][0].get('action_ts')}:{(body.get('user') or {}).get('id')}"
    return None
