"""Slack's Request URLs: POST /slack/events (Event Subscriptions) and POST /slack/interactions (Interactivity).

They sit outside /api/v1: Slack, not a deskmate client, calls them, and the signature Bolt checks is their
authentication. Off (404) unless DESKMATE_SLACK_BOT_TOKEN and DESKMATE_SLACK_SIGNING_SECRET are set.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from api.channels.slack.inbound import SlackChannel
from api.errors import NotFound

router = APIRouter(prefix="/slack", tags=["slack"], include_in_schema=False)


def _channel(request: Request) -> SlackChannel:
    slack: SlackChannel | None = request.app.state.slack
    if slack is None:
        raise NotFound("Slack is not configured: set DESKMATE_SLACK_BOT_TOKEN and DESKMATE_SLACK_SIGNING_SECRET.")
    return slack


@router.post("/events")
async def events(request: Request) -> Response:
    """Events API deliveries (url_verification, message.im, app_mention); Bolt verifies the signature."""
    return await _channel(request).handler.handle(request)


@router.post("/interactions")
async def interactions(request: Request) -> Response:
    """Button presses (block_actions) under the bot's messages."""
    return await _channel(request).handler.handle(request)
