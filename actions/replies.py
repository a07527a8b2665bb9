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

# A report the api linked to a known issue instead of opening a ticket (outcome "linked"). The custom data marks
# the message so that a ticket asked for after it is the employee's own (actions/tickets.py linked_before).
KNOWN_ISSUE = (
    "This looks like a known issue: {issue}. The service desk is already working on it. "
    "I've added you to the affected people; you'll hear when it's fixed. "
    "If your problem is different, I can open a separate ticket for you."
)
KNOWN_ISSUE_MARK = "known_issue"
DIFFERENT_BUTTONS = [{"title": "Mine is different: open a ticket", "payload": "/open_ticket"}]

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


def known_issue(dispatcher: CollectingDispatcher, incident: dict) -> None:
    """Tells the employee their report joined a known issue, with the button to open their own ticket instead."""
    number = str(incident.get("number") or "an open incident")
    issue = f'{number} "{incident["title"]}"' if incident.get("title") else number
    dispatcher.utter_message(text=KNOWN_ISSUE.format(issue=issue), buttons=DIFFERENT_BUTTONS,
                             json_message={KNOWN_ISSUE_MARK: number})
