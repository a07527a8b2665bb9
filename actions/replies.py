"""Short, friendly replies for failures. Never show raw errors to the user; log them."""
from __future__ import annotations

import logging

from rasa_sdk.executor import CollectingDispatcher

from actions.api_client import ApiError

logger = logging.getLogger(__name__)

SIGN_IN_FIRST = (
    "I can only do that for signed-in employees, so I know whose ticket it is. "
    "Please sign in to the service desk (or chat with me from Slack or Teams) and ask again, "
    "or email the service desk from your work address."
)
UNAVAILABLE = (
    "Sorry, I can't reach the service desk system right now. "
    "Please try again in a few minutes."
)
FAILED = "Sorry, that didn't work on the service desk side. Please try again later."

OFFER_BUTTONS = [
    {"title": "Open a ticket", "payload": "/open_ticket"},
    {"title": "Talk to a person", "payload": "/human_handoff"},
]


def report_api_error(
    dispatcher: CollectingDispatcher, error: ApiError, *, action: str, not_found: str | None = None
) -> None:
    """Logs the error and tells the user in one friendly sentence."""
    logger.warning(
        "%s: api call %s %s failed: status=%s title=%r type=%s",
        action, error.method, error.path, error.status, error.title, error.type,
    )
    if error.not_found and not_found:
        dispatcher.utter_message(text=not_found)
    elif error.status in (401,):
        logger.error("%s: the api rejected the service token (check DESKMATE_SERVICE_TOKEN)", action)
        dispatcher.utter_message(text=UNAVAILABLE)
    elif error.unavailable:
        dispatcher.utter_message(text=UNAVAILABLE)
    else:
        dispatcher.utter_message(text=FAILED)
