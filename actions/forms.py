"""Form validators (`validate_<form>`) and the action that discards a stopped form."""
from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.helpers import clear, form_slots

TICKET_NUMBER = re.compile(r"\b(INC|REQ)[- ]?0*(\d{1,9})\b", re.IGNORECASE)
BARE_ID = re.compile(r"^\s*#?(\d{1,9})\s*$")
LAST_TICKET = re.compile(r"\b(last|latest|newest|most recent|previous|recent)\b", re.IGNORECASE)
URGENCY_WORDS = {
    "high": ("high", "urgent", "critical", "asap", "blocker", "can't work", "cannot work",
             "emergency", "important"),
    "low": ("low", "not urgent", "whenever", "can wait", "no rush", "no hurry", "not important"),
    "medium": ("medium", "normal", "moderate", "average", "standard", "mid"),
}
MIN_TEXT = 3
MIN_PROBLEM = 15  # a message this long, said just before "Yes, open a ticket", is the ticket's description
FIRST_SENTENCE = re.compile(r"^(.+?[.!?])(\s|$)", re.DOTALL)
BUTTON_PAYLOAD = re.compile(r"^/[A-Za-z_]\w*(\{.*\})?$", re.DOTALL)  # /affirm, /inform{"urgency": "high"}
Slots = dict[str, Any]


def normalize_ticket_number(value: str) -> str | None:
    """INC-000042 from "inc 42", "INC000042", "#42" -> "42" (an id); None if not a ticket."""
    value = value.strip()
    if value.lower() == "last":
        return "last"
    match = TICKET_NUMBER.search(value)
    if match:
        return f"{match.group(1).upper()}-{int(match.group(2)):06d}"
    match = BARE_ID.match(value)
    return match.group(1) if match else None


_URGENCY_PATTERNS = {
    level: re.compile(r"\b(" + "|".join(map(re.escape, words)) + r")\b", re.IGNORECASE)
    for level, words in URGENCY_WORDS.items()
}


def normalize_urgency(value: str) -> str | None:
    """high / medium / low from the user's words; None when none is recognised."""
    for level in ("low", "high", "medium"):  # "not urgent" must win over "urgent"
        if _URGENCY_PATTERNS[level].search(value):
            return level
    return None


def _latest_entity(tracker: Tracker, entity: str) -> str | None:
    return next(tracker.get_latest_entity_values(entity), None)


def _free_text(slot: str, value: Any, dispatcher: CollectingDispatcher, ask_again: str) -> Slots:
    """The user's words for ``slot``; asked again when too short, or when the "words" are a button's payload (a
    stale button pressed while the form asks: Slack and Teams keep old buttons pressable)."""
    text = str(value or "").strip()
    if len(text) < MIN_TEXT or BUTTON_PAYLOAD.match(text):
        dispatcher.utter_message(text=ask_again)
        return {slot: None}
    return {slot: text}


def problem_told_before(tracker: Tracker) -> str | None:
    """What the user described just before accepting the bot's offer of a ticket ("Yes, open a ticket" after an
    answer that didn't help), so the form doesn't ask for it again; None when the form was asked for directly."""
    if (tracker.latest_message.get("intent") or {}).get("name") != "affirm":
        return None
    said = [e.get("text") or "" for e in tracker.events if e.get("event") == "user"]
    text = said[-2].strip() if len(said) >= 2 else ""
    return text if len(text) >= MIN_PROBLEM and not BUTTON_PAYLOAD.match(text) else None


class ValidateOpenTicketForm(FormValidationAction):
    def name(self) -> str:
        return "validate_open_ticket_form"

    async def extract_summary(self, dispatcher, tracker, domain: DomainDict) -> Slots:
        problem = None if tracker.get_slot("summary") else problem_told_before(tracker)
        if problem is None:
            return {}
        first = FIRST_SENTENCE.match(problem)
        return {"summary": (first.group(1) if first else problem).splitlines()[0][:200]}

    async def extract_description(self, dispatcher, tracker, domain: DomainDict) -> Slots:
        problem = None if tracker.get_slot("description") else problem_told_before(tracker)
        return {"description": problem} if problem else {}

    def validate_summary(self, value, dispatcher, tracker, domain: DomainDict) -> Slots:
        slots = _free_text("summary", value, dispatcher, "Could you give me a few more words?")
        if slots["summary"]:
            slots["summary"] = slots["summary"].splitlines()[0][:200]
        return slots

    def validate_description(self, value, dispatcher, tracker, domain: DomainDict) -> Slots:
        return _free_text("description", value, dispatcher, "Could you tell me a bit more?")

    def validate_urgency(self, value, dispatcher, tracker, domain: DomainDict) -> Slots:
        level = normalize_urgency(str(value or ""))
        if level is None:
            dispatcher.utter_message(response="utter_invalid_urgency")
        return {"urgency": level}

    def validate_confirm_ticket(self, value, dispatcher, tracker, domain: DomainDict) -> Slots:
        return {"confirm_ticket": value}


class _TicketReference:
    """Mixin of the forms that need a ticket: a number, an id or "my last ticket".

    Not an Action itself, so the action server does not register it.
    """

    async def extract_ticket_number(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Slots:
        """Fills ticket_number when the NLU found no entity: a number, "my last ticket", an id."""
        if tracker.get_slot("ticket_number") or _latest_entity(tracker, "ticket_number"):
            return {}
        text = tracker.latest_message.get("text") or ""
        match = TICKET_NUMBER.search(text)
        if match:  # the NLU missed it ("inc 42")
            return {"ticket_number": match.group(0)}
        if LAST_TICKET.search(text):
            return {"ticket_number": "last"}
        if tracker.get_slot("requested_slot") == "ticket_number" and BARE_ID.match(text):
            return {"ticket_number": text}
        return {}

    def validate_ticket_number(self, value, dispatcher, tracker, domain: DomainDict) -> Slots:
        number = normalize_ticket_number(str(value or ""))
        if number is None:
            dispatcher.utter_message(response="utter_invalid_ticket_number")
        return {"ticket_number": number}


class ValidateTicketStatusForm(_TicketReference, FormValidationAction):
    def name(self) -> str:
        return "validate_ticket_status_form"


class ValidateTicketUpdateForm(_TicketReference, FormValidationAction):
    def name(self) -> str:
        return "validate_ticket_update_form"

    def validate_comment(self, value, dispatcher, tracker, domain: DomainDict) -> Slots:
        return _free_text("comment", value, dispatcher, "What should I add to the ticket?")


class ValidateCancelTicketForm(_TicketReference, FormValidationAction):
    def name(self) -> str:
        return "validate_cancel_ticket_form"

    def validate_confirm_cancel(self, value, dispatcher, tracker, domain: DomainDict) -> Slots:
        return {"confirm_cancel": value}


class ValidateSoftwareRequestForm(FormValidationAction):
    def name(self) -> str:
        return "validate_software_request_form"

    def validate_software(self, value, dispatcher, tracker, domain: DomainDict) -> Slots:
        # "I need Visio please" typed as an answer: keep just the recognised name.
        return _free_text("software", _latest_entity(tracker, "software") or value,
                          dispatcher, "Which software exactly?")

    def validate_reason(self, value, dispatcher, tracker, domain: DomainDict) -> Slots:
        return _free_text("reason", value, dispatcher, "Please give a short reason.")


class ValidateAccessRequestForm(FormValidationAction):
    def name(self) -> str:
        return "validate_access_request_form"

    def validate_resource(self, value, dispatcher, tracker, domain: DomainDict) -> Slots:
        return _free_text("resource", _latest_entity(tracker, "resource") or value,
                          dispatcher, "What exactly do you need access to?")

    def validate_reason(self, value, dispatcher, tracker, domain: DomainDict) -> Slots:
        return _free_text("reason", value, dispatcher, "Please give a short reason.")


class ActionDiscardForm(Action):
    """After a form was stopped: says so and empties every form slot."""

    def name(self) -> str:
        return "action_discard_form"

    def run(self, dispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        dispatcher.utter_message(response="utter_form_stopped")
        return clear(*form_slots(domain))
