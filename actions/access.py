"""Request actions: software and access requests become `request` tickets; access to a group in the directory's
catalogue is requested through the api's access_request workflow (the manager approves)."""
from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import context
from actions.api_client import ApiClient, ApiError
from actions.helpers import clear, number, open_ticket, requires_sign_in
from actions.knowledge import how_it_works
from actions.replies import FAILED, report_api_error
from actions.workflows import turn_key, wait_for, wait_s

logger = logging.getLogger(__name__)


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


# --- access to a group from the catalogue: the access_request workflow (docs/bot.md) -------------------------
ACCESS = "access_request"
MAX_CHOICES = 8
SOMETHING_ELSE = {"title": "Something else", "payload": "/inform"}
WORD = re.compile(r"[a-z0-9]+")
FILLER = frozenset("a an the to of for on in onto and or i me my we our can could please need want get give "
                   "access join install installed software licence license".split())


def _words(text: str | None) -> set[str]:
    return set(WORD.findall((text or "").lower())) - FILLER


def closest_first(groups: list[dict], text: str | None) -> list[dict]:
    """The groups (or software items), those sharing the most words (name or description) with what the employee
    typed first."""
    asked = _words(text)
    return sorted(groups, key=lambda g: -len(asked & _words(f"{g['name']} {g.get('description') or ''}")))


def group_name(dn: str) -> str:
    """The group's name as its button showed it: the value of the DN's first part (``cn=finance-share,…``)."""
    return dn.split(",", 1)[0].partition("=")[2] or dn


def titled(entry: dict) -> str:
    """A catalogue entry's button title: its name, and its description when it has one."""
    return f"{entry['name']}: {entry['description']}" if entry.get("description") else entry["name"]


async def offer_catalogue(dispatcher: CollectingDispatcher, tracker: Tracker, *, action: str, slot: str,
                          read: Callable[[ApiClient], Awaitable[list[dict]]], button: Callable[[dict], dict],
                          text: str) -> list[EventType]:
    """Signed in and the api has a non-empty catalogue (``read``): the KB's how-to when confident, then up to
    MAX_CHOICES of its entries as buttons, closest match first, and "Something else"; ``slot`` true. Otherwise ``slot`` false: the rule starts the form."""
    if not context.signed_in(tracker):
        return [SlotSet(slot, False)]
    try:
        entries = await read(context.api_client(tracker))
    except ApiError as error:  # 503: no directory configured; anything else: the form still works
        logger.info("%s: no catalogue (%s %s): the form", action, error.status, error.type)
        return [SlotSet(slot, False)]
    if not entries:
        return [SlotSet(slot, False)]
    choices = closest_first(entries, context.last_user_text(tracker))[:MAX_CHOICES]
    await how_it_works(dispatcher, tracker, action)  # the KB's how-to first, for whoever only wanted to know
    dispatcher.utter_message(text=text, buttons=[*map(button, choices), SOMETHING_ELSE])
    return [SlotSet(slot, True)]


class ActionOfferAccess(Action):
    """access_request: signed in and the api has a catalogue, its groups as buttons (closest match first) and
    "Something else"; otherwise ``access_offered`` false and the rule starts the ticket form."""

    def name(self) -> str:
        return "action_offer_access"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        return await offer_catalogue(
            dispatcher, tracker, action=self.name(), slot="access_offered", read=ApiClient.access_catalogue,
            button=lambda g: {"title": titled(g), "payload": "/choose_group" + json.dumps({"group_dn": g["dn"]})},
            text="I can ask your manager to approve access to one of these groups. Which one do you need?")


class ActionRequestGroup(Action):
    """A group picked from the catalogue: starts the access_request run for it (the api acts on the employee's own
    account) and says who must approve it, once the run is waiting for them."""

    def name(self) -> str:
        return "action_request_group"

    @requires_sign_in("group_dn", "access_offered")
    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        dn, client = tracker.get_slot("group_dn"), context.api_client(tracker)
        if not dn:
            dispatcher.utter_message(text=FAILED)
            return clear("group_dn", "access_offered")
        try:
            run = await client.start_workflow(ACCESS, {"group_dn": dn}, key=turn_key(tracker, ACCESS))
            run = await wait_for(client, ACCESS, run["id"], seconds=wait_s())
        except ApiError as error:
            report_api_error(dispatcher, error, action=self.name())
            return clear("group_dn", "access_offered")
        name, ticket = group_name(dn), run.get("ticket_number") or "your request"
        if run["status"] == "waiting":
            who = run.get("approver") or "your manager"
            text = (f"I've asked {who} to approve your access to {name} ({ticket}). "
                    "You'll see their decision in your notifications and on the ticket.")
        elif run["status"] == "running":
            text = (f"I've sent your request for access to {name} ({ticket}); it goes to your manager for approval, "
                    "and you'll see the decision in your notifications and on the ticket.")
        elif run["status"] == "succeeded":
            text = f"Done: you now have access to {name} ({ticket})."
        else:
            text = (f"I couldn't request that myself, so I've handed it to the service desk with everything "
                    f"attached: {ticket}.")
        dispatcher.utter_message(text=text)
        logger.info("%s: run %s is %s", self.name(), run["id"], run["status"])
        return clear("group_dn", "access_offered")
