"""Ticket actions: open (the form's result), check status, comment, cancel."""
from __future__ import annotations

import logging

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType

from actions import context
from actions.api_client import ApiError
from actions.helpers import (
    URGENCY_LEVELS,
    clear,
    describe,
    number,
    open_ticket_answer,
    requires_sign_in,
    resolve_ticket,
)
from actions.replies import KNOWN_ISSUE_MARK, known_issue, report_api_error

logger = logging.getLogger(__name__)

TICKET_SLOTS = ("summary", "description", "urgency", "confirm_ticket")
TICKET_REF_SLOTS = ("ticket_number", "comment", "confirm_cancel")
TICKET_ACTIONS = frozenset({"action_open_ticket", "action_escalate_conversation"})


def linked_before(tracker: Tracker) -> bool:
    """Whether the bot linked this conversation to a known issue since it last opened a ticket: a ticket asked
    for now is then the employee's own ("mine is different")."""
    for event in reversed(tracker.events):
        if event.get("event") == "action" and event.get("name") in TICKET_ACTIONS:
            return False
        custom = ((event.get("data") or {}).get("custom") or {}) if event.get("event") == "bot" else {}
        if isinstance(custom, dict) and custom.get(KNOWN_ISSUE_MARK):
            return True
    return False


class ActionOpenTicket(Action):
    """Submits open_ticket_form once the user confirmed it."""

    def name(self) -> str:
        return "action_open_ticket"

    async def run(self, dispatcher, tracker: Tracker, domain) -> list[EventType]:
        if not tracker.get_slot("confirm_ticket"):
            dispatcher.utter_message(text="OK, I didn't open a ticket.")
            return clear(*TICKET_SLOTS)
        return await self.submit(dispatcher, tracker, domain)

    @requires_sign_in(*TICKET_SLOTS)
    async def submit(self, dispatcher, tracker: Tracker, domain) -> list[EventType]:
        answer = await open_ticket_answer(dispatcher, tracker, {
            "reason": "form",
            "summary": tracker.get_slot("summary"),
            "description": tracker.get_slot("description"),
            "urgency": URGENCY_LEVELS.get(tracker.get_slot("urgency") or "", 2),
            "separate": linked_before(tracker),
        }, action=self.name())
        if answer and answer.get("outcome") == "linked":
            known_issue(dispatcher, answer.get("incident") or answer["ticket"])
        elif answer:
            dispatcher.utter_message(
                text=f"Done: I've opened {number(answer['ticket'])} for you. "
                "The service desk will follow up, and you can ask me for its status any time."
            )
        return clear(*TICKET_SLOTS)


class ActionCheckTicketStatus(Action):
    def name(self) -> str:
        return "action_check_ticket_status"

    @requires_sign_in(*TICKET_REF_SLOTS)
    async def run(self, dispatcher, tracker: Tracker, domain) -> list[EventType]:
        ref = tracker.get_slot("ticket_number") or "last"
        ticket = await resolve_ticket(
            dispatcher, context.api_client(tracker), ref, action=self.name()
        )
        if ticket:
            dispatcher.utter_message(text=describe(ticket))
        return clear(*TICKET_REF_SLOTS)


class ActionUpdateTicket(Action):
    def name(self) -> str:
        return "action_update_ticket"

    @requires_sign_in(*TICKET_REF_SLOTS)
    async def run(self, dispatcher, tracker: Tracker, domain) -> list[EventType]:
        client = context.api_client(tracker)
        ref = tracker.get_slot("ticket_number") or "last"
        ticket = await resolve_ticket(dispatcher, client, ref, action=self.name())
        if ticket:
            try:
                await client.add_comment(ticket["id"], tracker.get_slot("comment") or "")
                dispatcher.utter_message(
                    text=f"I've added your comment to {number(ticket)}."
                )
            except ApiError as error:
                report_api_error(dispatcher, error, action=self.name())
        return clear(*TICKET_REF_SLOTS)


class ActionCancelTicket(Action):
    def name(self) -> str:
        return "action_cancel_ticket"

    async def run(self, dispatcher, tracker: Tracker, domain) -> list[EventType]:
        if not tracker.get_slot("confirm_cancel"):
            dispatcher.utter_message(text="OK, I left the ticket as it is.")
            return clear(*TICKET_REF_SLOTS)
        return await self.cancel(dispatcher, tracker, domain)

    @requires_sign_in(*TICKET_REF_SLOTS)
    async def cancel(self, dispatcher, tracker: Tracker, domain) -> list[EventType]:
        client = context.api_client(tracker)
        ref = tracker.get_slot("ticket_number") or "last"
        ticket = await resolve_ticket(dispatcher, client, ref, action=self.name())
        if ticket:
            try:
                await client.transition_ticket(
                    ticket["id"], "cancelled", reason="Cancelled by the requester in chat"
                )
                dispatcher.utter_message(text=f"{number(ticket)} is cancelled.")
            except ApiError as error:
                if error.status in (409, 422):
                    logger.info("%s: %s cannot be cancelled: %s", self.name(),
                                ticket.get("number"), error.title)
                    dispatcher.utter_message(
                        text=f"{number(ticket)} can't be cancelled any more "
                        "(it may already be resolved or closed)."
                    )
                else:
                    report_api_error(dispatcher, error, action=self.name())
        return clear(*TICKET_REF_SLOTS)
