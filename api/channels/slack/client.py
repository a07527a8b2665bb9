"""Slack's Web API, through slack_sdk: the client and the one call that posts a message."""

from __future__ import annotations

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


async def post(client: AsyncWebClient, *, channel: str, thread_ts: str | None, text: str,
               blocks: list[dict[str, Any]] | None = None) -> str:
    """Posts a message (in the thread ``thread_ts`` when given); returns its ts. Raises ChannelDeliveryFailed."""
    try:
        response = await client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=text, blocks=blocks,
                                                 unfurl_links=False)
    except SlackApiError as exc:
        code = str(exc.response.get("error") or f"HTTP {exc.response.status_code}")
        raise ChannelDeliveryFailed(f"Slack refused the message: {code}.", code=code,
                                    permanent=code in PERMANENT) from exc
    except (TimeoutError, SlackClientError, aiohttp.ClientError) as exc:
        raise ChannelDeliveryFailed(f"Slack could not be reached: {type(exc).__name__}.") from exc
    return str(response.get("ts") or "")
