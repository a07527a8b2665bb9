"""Request actions: software and access requests become `request` tickets."""
from __future__ import annotations

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType

from actions.helpers import clear, number, open_ticket, requires_sign_in


async def _submit_request(
    action: Action, dispatcher, tracker: Tracker, *, slot: str, title: str
) -> list[EventType]:
    ticket = await open_ticket(dispatcher, tracker, {
        "reason": "form", "summary": title, "type": "request", "urgency": 3,
        "details": {slot: tracker.get_slot(slot) or "", "business_reason": tracker.get_slot("reason") or ""},
    }, action=action.name())
    if ticket:
        dispatcher.utter_message(
            text=f"I've submitted your request as {number(ticket)}. "
            "It may need your manager's approval; you'll be notified when it's done."
        )
    return clear(slot, "reason")


class ActionRequestSoftware(Action):
    def name(self) -> str:
        return "action_request_software"

    @requires_sign_in("software", "reason")
    async def run(self, dispatcher, tracker: Tracker, domain) -> list[EventType]:
        software = tracker.get_slot("software") or "software"
        return await _submit_request(self, dispatcher, tracker, slot="software",
                                     title=f"Software request: {software}")


class ActionRequestAccess(Action):
    def name(self) -> str:
        return "action_request_access"

    @requires_sign_in("resource", "reason")
    async def run(self, dispatcher, tracker: Tracker, domain) -> list[EventType]:
        resource = tracker.get_slot("resource") or "a resource"
        return await _submit_request(self, dispatcher, tracker, slot="resource",
                                     title=f"Access request: {resource}")
