"""Request actions: software and access requests become `request` tickets."""
from __future__ import annotations

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType

from actions import context
from actions.replies import SIGN_IN_FIRST
from actions.tickets import clear, create_ticket, number, ticket_payload


async def _submit_request(
    action: Action, dispatcher, tracker: Tracker, *, slot: str, title: str, what: str
) -> list[EventType]:
    if not context.employee_email(tracker):
        dispatcher.utter_message(text=SIGN_IN_FIRST)
        return clear(slot, "reason")
    reason = tracker.get_slot("reason") or ""
    payload = ticket_payload(
        tracker, title=title, description=f"{what}\nBusiness reason: {reason}",
        type="request", urgency="low",
    )
    ticket = await create_ticket(dispatcher, tracker, payload, action=action.name())
    if ticket:
        dispatcher.utter_message(
            text=f"I've submitted your request as {number(ticket)}. "
            "It may need your manager's approval; you'll be notified when it's done."
        )
    return clear(slot, "reason")


class ActionRequestSoftware(Action):
    def name(self) -> str:
        return "action_request_software"

    async def run(self, dispatcher, tracker: Tracker, domain) -> list[EventType]:
        software = tracker.get_slot("software") or "software"
        return await _submit_request(
            self, dispatcher, tracker, slot="software",
            title=f"Software request: {software}", what=f"Please install {software}.",
        )


class ActionRequestAccess(Action):
    def name(self) -> str:
        return "action_request_access"

    async def run(self, dispatcher, tracker: Tracker, domain) -> list[EventType]:
        resource = tracker.get_slot("resource") or "a resource"
        return await _submit_request(
            self, dispatcher, tracker, slot="resource",
            title=f"Access request: {resource}", what=f"Please grant access to {resource}.",
        )
