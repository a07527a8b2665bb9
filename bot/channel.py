"""deskmate's Rasa input channel: the REST channel, for the deskmate api only.

Registered in bot/credentials.yml as ``bot.channel.DeskmateInput`` (``rasa run`` must be able to import
``bot``: the Procfile runs it from the repository root with ``PYTHONPATH=.``). It serves
``POST /webhooks/deskmate/webhook``, ``POST /webhooks/deskmate/parse`` (NLU only, for evaluation) and
``GET /webhooks/deskmate/``; every request must carry
``X-Deskmate-Channel-Secret`` equal to the ``secret`` credential (``${DESKMATE_RASA_CHANNEL_SECRET}``),
compared in constant time. With no secret configured it refuses everything. Rasa's own REST channel
(``rest:``) is not enabled: its webhook has no authentication at all.

The answer is ``{"messages": [...REST channel replies...], "intent": {"name", "confidence"}, "timing": {"action_s",
"actions"}}``: the replies and the intent Rasa detected in the user's text, so the gateway needs no second request
for the tracker, and the time the turn waited for the action server (bot/timing.py, for the api's metrics).
The channel parses the text itself (``MessageProcessor.parse_message``, exactly as the turn would) and hands
the result to Rasa in ``UserMessage.parse_data``, Rasa's supported way to pass a pre-parsed message: the turn
uses that parse instead of parsing again, and the channel knows the intent without loading the tracker a
second time after the turn. This is the same parse because deskmate's NLU pipeline does not read the tracker
(tests/bot/test_channel.py checks the trained model's graph); the parse runs outside the conversation's lock.

Rasa 3.6 gives every call of the action server a fixed 5-minute timeout. Importing this module sets it to
``DESKMATE_RASA_ACTION_TIMEOUT_S`` (shorter than the gateway's wait for Rasa, see docs/chat.md), and makes Rasa
validate the action server's answers with one prebuilt JSON-schema validator instead of building one per call.
"""
from __future__ import annotations

import copy
import hmac
import logging
import os
from asyncio import CancelledError
from collections.abc import Awaitable, Callable
from typing import Any

import jsonschema
import rasa.core.actions.action as rasa_actions
from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from rasa.core.processor import MessageProcessor
from rasa.shared.constants import DOCS_BASE_URL
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot import timing

logger = logging.getLogger(__name__)
SECRET_HEADER = "X-Deskmate-Channel-Secret"

if os.environ.get("DESKMATE_RASA_ACTION_TIMEOUT_S"):
    rasa_actions.DEFAULT_REQUEST_TIMEOUT = float(os.environ["DESKMATE_RASA_ACTION_TIMEOUT_S"])


def _action_result_validator() -> Any:
    spec = rasa_actions.RemoteAction.action_response_format_spec()
    cls = jsonschema.validators.validator_for(spec)
    cls.check_schema(spec)
    return cls(spec)


_ACTION_RESULT = _action_result_validator()


def _validate_action_result(self: rasa_actions.RemoteAction, result: dict[str, Any]) -> bool:
    """RemoteAction._validate_action_result with its validator built once: ``jsonschema.validate`` (what Rasa
    calls) checks the schema itself and builds a validator on every action call, about a seventh of Rasa's CPU
    per turn (bench/chat.py --profile). Same checks, same error (the best match, with Rasa's hint appended)."""
    error = jsonschema.exceptions.best_match(_ACTION_RESULT.iter_errors(result))
    if error is not None:
        error.message += (". Failed to validate Action server response from API, make sure your response from the "
                          "Action endpoint is valid. For more information about the format visit "
                          f"{DOCS_BASE_URL}/custom-actions")
        raise error
    return True


rasa_actions.RemoteAction._validate_action_result = _validate_action_result  # type: ignore[method-assign]


class DeskmateInput(InputChannel):
    """Rasa's REST channel behind a shared secret, answering the replies with the detected intent."""

    def __init__(self, secret: str = "") -> None:
        self.secret = secret

    @classmethod
    def name(cls) -> str:
        return "deskmate"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        return cls(str((credentials or {}).get("secret") or ""))

    def allowed(self, request: Request) -> bool:
        given = request.headers.get(SECRET_HEADER, "")
        return bool(self.secret) and hmac.compare_digest(given.encode(), self.secret.encode())

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        hook = Blueprint("deskmate_webhook", __name__)

        @hook.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            if not self.allowed(request):
                return response.json({"error": "forbidden"}, status=403)
            return response.json({"status": "ok"})

        @hook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            if not self.allowed(request):
                logger.warning("deskmate channel: refused a request without the channel secret")
                return response.json({"error": "forbidden"}, status=403)
            body = request.json if isinstance(request.json, dict) else {}
            sender, text = body.get("sender"), body.get("message")
            metadata = body.get("metadata") if isinstance(body.get("metadata"), dict) else None
            if not isinstance(sender, str) or not isinstance(text, str):
                return response.json({"error": "sender and message are required"}, status=400)
            agent = getattr(request.app.ctx, "agent", None)
            with timing.Turn() as clock:  # the time spent in custom actions, and the turn's log line
                answer = await turn(agent.processor if agent else None, on_new_message, sender=sender, text=text,
                                    metadata=metadata, input_channel=self.name())
            logger.info("deskmate channel: turn of %s answered in %.1f ms (%d action call(s), %.1f ms) trace_id=%s",
                        sender, clock.seconds * 1000, len(clock.spent), clock.action_s * 1000,
                        timing.trace_id(metadata))
            return response.json({**answer, "timing": clock.report()})

        @hook.route("/parse", methods=["POST"])
        async def parse(request: Request) -> HTTPResponse:
            """NLU only, for evaluation: the parse a turn with this text and metadata would get; no tracker."""
            if not self.allowed(request):
                return response.json({"error": "forbidden"}, status=403)
            body = request.json if isinstance(request.json, dict) else {}
            text = body.get("text")
            metadata = body.get("metadata") if isinstance(body.get("metadata"), dict) else None
            agent = getattr(request.app.ctx, "agent", None)
            if not isinstance(text, str):
                return response.json({"error": "text is required"}, status=400)
            if agent is None or agent.processor is None:
                return response.json({"error": "no model loaded"}, status=503)
            return response.json(await agent.processor.parse_message(UserMessage(text, metadata=metadata)))

        return hook


async def turn(processor: MessageProcessor | None, on_new_message: Callable[[UserMessage], Awaitable[Any]], *,
               sender: str, text: str, metadata: dict[str, Any] | None, input_channel: str) -> dict[str, Any]:
    """One user turn: ``{"messages": [...], "intent": {"name", "confidence"}}``.

    The text is parsed once, here, and the turn gets that parse in ``parse_data`` (no second parse, no second
    tracker load). Without a loaded model (``processor`` is None) Rasa's own handling answers nothing.
    """
    parse_data = None
    if processor is not None:
        try:
            parse_data = await processor.parse_message(UserMessage(text, None, sender, metadata=metadata,
                                                                   input_channel=input_channel))
        except Exception:  # the turn then parses itself, as without this channel
            logger.exception("deskmate channel: parsing the message failed")
    collector = CollectingOutputChannel()
    try:
        await on_new_message(UserMessage(text, collector, sender, input_channel=input_channel, metadata=metadata,
                                         parse_data=parse_data))
    except CancelledError:
        logger.error("deskmate channel: message handling timed out: %r", copy.deepcopy(text))
    except Exception:  # the REST channel's behaviour: answer what was collected
        logger.exception("deskmate channel: message handling failed")
    intent = (parse_data or {}).get("intent") or {}
    return {"messages": collector.messages, "intent": {"name": intent.get("name"),
                                                       "confidence": intent.get("confidence")}}
