"""What the ticket actions share: the sign-in guard, opening a ticket from the conversation, ticket wording."""
from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import context
from actions.api_client import ApiClient, ApiError
from actions.replies import FAILED, SIGN_IN_FIRST, report_api_error

URGENCY_LEVELS = {"high": 1, "medium": 2, "low": 3}
Run = Callable[[Any, CollectingDispatcher, Tracker, dict], Awaitable[list[EventType]]]


def clear(*slots: str) -> list[EventType]:
    return [SlotSet(slot, None) for slot in slots]


def form_slots(domain: dict[str, Any] | None) -> list[str]:
    """Every slot of every form, and requested_slot."""
    slots = {"requested_slot"}
    for form in (domain or {}).get("forms", {}).values():
        slots.update(form.get("required_slots") or [])
    return sorted(slots)


def requires_sign_in(*slots: str, all_form_slots: bool = False) -> Callable[[Run], Run]:
    """The one sign-in guard: without the gateway's assertion the action says so and empties ``slots``."""

    def decorate(run: Run) -> Run:
        @functools.wraps(run)
        async def guarded(self: Action, dispatcher: CollectingDispatcher, tracker: Tracker,
                          domain: dict) -> list[EventType]:
            if not context.signed_in(tracker):
                dispatcher.utter_message(text=SIGN_IN_FIRST)
                return clear(*(form_slots(domain) if all_form_slots else slots))
            return await run(self, dispatcher, tracker, domain)

        return guarded

    return decorate


async def open_ticket_answer(
    dispatcher: CollectingDispatcher, tracker: Tracker, request: dict[str, Any], *, action: str
) -> dict | None:
    """The api's whole answer to opening a ticket from this conversation (POST …/conversations/{id}/tickets):
    ``ticket``, and ``outcome`` "opened", or "linked" with ``incident`` (a known issue); None when it failed.

    ``request`` is what the bot collected: reason, summary, description, urgency, type, details, separate. The
    api builds the title, transcript and defaults, and opens one ticket per turn.
    """
    conversation = context.conversation_id(tracker)
    if not conversation:
        dispatcher.utter_message(text=FAILED)
        return None
    try:
        return await context.api_client(tracker).open_conversation_ticket(conversation, request)
    except ApiError as error:
        report_api_error(dispatcher, error, action=action)
        return None


async def open_ticket(
    dispatcher: CollectingDispatcher, tracker: Tracker, request: dict[str, Any], *, action: str
) -> dict | None:
    """Opens a ticket from this conversation; the ticket, or None when it failed (see open_ticket_answer)."""
    answer = await open_ticket_answer(dispatcher, tracker, request, action=action)
    return answer.get("ticket") if answer else None


def number(ticket: dict[str, Any]) -> str:
    """The ticket's human number (INC-000042), or its id if the api sent none."""
    return str(ticket.get("number") or ticket.get("id") or "your ticket")


def describe(ticket: dict[str, Any]) -> str:
    """One line about a ticket: number, title, status, priority."""
    status = str(ticket.get("status") or "unknown").replace("_", " ").lower()
    text = f"{number(ticket)} \"{ticket.get('title', '')}\" is {status}"
    if ticket.get("priority"):
        text += f" (priority P{ticket['priority']})"
    return text + "."


async def resolve_ticket(
    dispatcher: CollectingDispatcher, client: ApiClient, ref: str, *, action: str
) -> dict | None:
    """Fetches the ticket named by `ref` ("last" = the newest); tells the user if it fails."""
    try:
        ticket = await (client.latest_ticket() if ref == "last" else client.get_ticket(ref))
    except ApiError as error:
        report_api_error(
            dispatcher, error, action=action,
            not_found=f"I couldn't find {ref} among your tickets. Please check the number.",
        )
        return None
    if ticket is None:
        dispatcher.utter_message(text="You don't have any tickets yet.")
    return ticket
