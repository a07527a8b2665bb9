"""The hand-off to a person: a ticket from the conversation, which the api fills with the transcript."""
from __future__ import annotations

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType

from actions.helpers import clear, form_slots, number, open_ticket_answer, requires_sign_in
from actions.replies import known_issue


class ActionEscalateConversation(Action):
    """Hands the conversation to a person: the employee asked (human_handoff) or the bot could not help."""

    def name(self) -> str:
        return "action_escalate_conversation"

    @requires_sign_in(all_form_slots=True)
    async def run(self, dispatcher, tracker: Tracker, domain) -> list[EventType]:
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        answer = await open_ticket_answer(dispatcher, tracker, {
            "reason": "user_request" if intent == "human_handoff" else "fallback",
            "summary": tracker.get_slot("summary"),
        }, action=self.name())
        if answer and answer.get("outcome") == "linked":
            known_issue(dispatcher, answer.get("incident") or answer["ticket"])
        elif answer:
            dispatcher.utter_message(
                text=f"I've passed our conversation to the service desk team as {number(answer['ticket'])}. "
                "A person will get back to you as soon as possible."
            )
        return clear(*form_slots(domain))
