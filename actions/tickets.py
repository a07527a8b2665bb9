"""Ticket actions: open, check status, comment, cancel, hand over to a person."""
from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import context
from actions.api_client import ApiClient, ApiError
from actions.replies import SIGN_IN_FIRST, report_api_error

logger = logging.getLogger(__name__)

URGENCY_LEVELS = {"high": 1, "medium": 2, "low": 3}
DEFAULT_IMPACT = 3  # one person affected; triage may raise it
TICKET_SLOTS = ("summary", "description", "urgency", "confirm_ticket")
TICKET_REF_SLOTS = ("ticket_number", "comment", "confirm_cancel")


def clear(*slots: str) -> list[EventType]:
    return [SlotSet(slot, None) for slot in slots]


def ticket_payload(
    tracker: Tracker, *, title: str, description: str, type: str | None = None,
    urgency: str | None = None,
) -> dict[str, Any]:
    """The POST /tickets body for a ticket opened from this conversation."""
    intent, confidence, _ = context.topic(tracker)
    if type is None:
        type = "request" if intent in context.REQUEST_INTENTS else "incident"
    transcript = context.transcript(tracker)
    if transcript:
        description = f"{description}\n\n--- chat transcript ---\n{transcript}"
    metadata: dict[str, Any] = {"intent": intent, "confidence": confidence}
    entities = context.mentioned_entities(tracker, "device", "software", "resource")
    if entities:
        metadata["entities"] = entities
    return {
        "title": title.strip()[:200],
        "description": description.strip(),
        "type": type,
        "urgency": URGENCY_LEVELS.get(urgency or "", 2),
        "impact": DEFAULT_IMPACT,
        "source_type": "CHATBOT",
        "source_reference": context.conversation_id(tracker) or tracker.sender_id,
        "integration_metadata": metadata,
    }


async def create_ticket(
    dispatcher: CollectingDispatcher, tracker: Tracker, payload: dict[str, Any], *, action: str
) -> dict | None:
    """Creates the ticket and reports failures to the user; None when it failed."""
    try:
        return await context.api_client(tracker).create_ticket(
            payload, idempotency_key=context.idempotency_key(tracker)
        )
    except ApiError as error:
        report_api_error(dispatcher, error, action=action)
        return None


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


class ActionOpenTicket(Action):
    """Submits open_ticket_form once the user confirmed it."""

    def name(self) -> str:
        return "action_open_ticket"

    async def run(self, dispatcher, tracker: Tracker, domain) -> list[EventType]:
        if not tracker.get_slot("confirm_ticket"):
            dispatcher.utter_message(text="OK, I didn't open a ticket.")
            return clear(*TICKET_SLOTS)
        if not context.employee_email(tracker):
            dispatcher.utter_message(text=SIGN_IN_FIRST)
            return clear(*TICKET_SLOTS)
        summary = tracker.get_slot("summary") or "Problem reported in chat"
        payload = ticket_payload(
            tracker, title=summary, description=tracker.get_slot("description") or summary,
            urgency=tracker.get_slot("urgency"),
        )
        ticket = await create_ticket(dispatcher, tracker, payload, action=self.name())
        if ticket:
            dispatcher.utter_message(
                text=f"Done: I've opened {number(ticket)} for you. "
                "The service desk will follow up, and you can ask me for its status any time."
            )
        return clear(*TICKET_SLOTS)


class ActionCheckTicketStatus(Action):
    def name(self) -> str:
        return "action_check_ticket_status"

    async def run(self, dispatcher, tracker: Tracker, domain) -> list[EventType]:
        if not context.employee_email(tracker):
            dispatcher.utter_message(text=SIGN_IN_FIRST)
            return clear(*TICKET_REF_SLOTS)
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

    async def run(self, dispatcher, tracker: Tracker, domain) -> list[EventType]:
        if not context.employee_email(tracker):
            dispatcher.utter_message(text=SIGN_IN_FIRST)
            return clear(*TICKET_REF_SLOTS)
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
        ref = tracker.get_slot("ticket_number") or "last"
        if not tracker.get_slot("confirm_cancel"):
            dispatcher.utter_message(text="OK, I left the ticket as it is.")
            return clear(*TICKET_REF_SLOTS)
        if not context.employee_email(tracker):
            dispatcher.utter_message(text=SIGN_IN_FIRST)
            return clear(*TICKET_REF_SLOTS)
        client = context.api_client(tracker)
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


class ActionEscalateConversation(Action):
    """Hands the conversation to a person: a ticket carrying the transcript.

    Uses the chat escalation endpoint when the gateway gave a conversation id (the api
    attaches its stored transcript), else creates the ticket directly.
    """

    def name(self) -> str:
        return "action_escalate_conversation"

    async def run(self, dispatcher, tracker: Tracker, domain) -> list[EventType]:
        form_slots = _all_form_slots(domain)
        if not context.employee_email(tracker):
            dispatcher.utter_message(text=SIGN_IN_FIRST)
            return clear(*form_slots)
        summary, reason = self._summary(tracker)
        ticket = await self._escalate(dispatcher, tracker, summary, reason)
        if ticket:
            dispatcher.utter_message(
                text=f"I've passed our conversation to the service desk team as {number(ticket)}. "
                "A person will get back to you as soon as possible."
            )
        return clear(*form_slots)

    @staticmethod
    def _summary(tracker: Tracker) -> tuple[str, str]:
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        reason = ("The employee asked for a person." if intent == "human_handoff"
                  else "The bot could not resolve the request.")
        topic_intent, _, topic_text = context.topic(tracker)
        about = tracker.get_slot("summary") or topic_text
        if about:
            return f"Chat hand-off: {about}"[:200], reason
        label = (topic_intent or "general").replace("_", " ")
        return f"Chat hand-off ({label})", reason

    async def _escalate(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, summary: str, reason: str
    ) -> dict | None:
        conversation = context.conversation_id(tracker)
        if conversation:
            try:
                answer = await context.api_client(tracker).escalate_conversation(
                    conversation, summary=summary, reason=reason,
                    idempotency_key=context.idempotency_key(tracker),
                )
                return answer.get("ticket") or answer
            except ApiError as error:
                if error.status not in (404, 405):
                    report_api_error(dispatcher, error, action=self.name())
                    return None
                logger.info("%s: escalation endpoint answered %s, creating the ticket directly",
                            self.name(), error.status)
        payload = ticket_payload(tracker, title=summary, description=reason, type="incident")
        return await create_ticket(dispatcher, tracker, payload, action=self.name())


def _all_form_slots(domain: dict[str, Any]) -> list[str]:
    slots = {"requested_slot"}
    for form in (domain or {}).get("forms", {}).values():
        slots.update(form.get("required_slots") or [])
    return sorted(slots)
