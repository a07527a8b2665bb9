"""Slack's Web API, through slack_sdk: the client, and posting and updating a message."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from api.channels.slack.settings import SlackSettings
from api.errors import ChannelDeliveryFailed

# Slack errors that a retry cannot fix (the channel is gone, the token is wrong): deliveries stop retrying.
PERMANENT = {"channel_not_found", "is_archived", "not_in_channel", "invalid_auth", "not_authed", "token_revoked",
             "account_inactive", "missing_scope", "msg_too_long", "no_text", "invalid_blocks"}


def web_client(settings: SlackSettings) -> AsyncWebClient:
    """The bot's client; a 429 is retried after its Retry-After (twice), connection errors once."""
    assert settings.bot_token is not None
    client = AsyncWebClient(token=settings.bot_token.get_secret_value(), base_url=settings.api_url,
                            timeout=int(settings.timeout_s))
    client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=2))
    return client


@asynccontextmanager
async def _delivering() -> AsyncIterator[None]:
    """Slack's refusals and failures as ChannelDeliveryFailed."""
    try:
        yield
    except SlackApiError as exc:
        code = str(exc.response.get("error") or f"HTTP {exc.response.status_code}")
        raise ChannelDeliveryFailed(f"Slack refused the message: {code}.", code=code,
                                    permanent=code in PERMANENT) from exc
    except (SlackClientError, aiohttp.ClientError, TimeoutError) as exc:
        raise ChannelDeliveryFailed(f"Slack could not be reached: {type(exc).__name__}.") from exc


async def post(client: AsyncWebClient, *, channel: str, thread_ts: str | None, text: str,
               blocks: list[dict[str, Any]] | None = None) -> str:
    """Posts a message (in the thread ``thread_ts`` when given); returns its ts. Raises ChannelDeliveryFailed."""
    async with _delivering():
        response = await client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=text, blocks=blocks,
                                                 unfurl_links=False)
    return str(response.get("ts") or "")


async def update(client: AsyncWebClient, *, channel: str, ts: str, text: str, blocks: list[dict[str, Any]]) -> None:
    """Replaces a message the bot posted. Raises ChannelDeliveryFailed."""
    async with _delivering():
        await client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)
