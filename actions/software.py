"""Software from the catalogue: the software_request workflow (docs/bot.md). Signed in and the api has a catalogue,
its items as buttons (closest match first) and "Something else" (the software request form, as before); a pick
starts the run, and the employee hears what happens next: their manager's approval, or the team that installs it."""
from __future__ import annotations

import json
import logging

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import context
from actions.access import offer_catalogue, titled
from actions.api_client import ApiClient, ApiError
from actions.helpers import clear, requires_sign_in
from actions.replies import FAILED, report_api_error
from actions.workflows import turn_key, wait_for, wait_s

logger = logging.getLogger(__name__)
SOFTWARE = "software_request"


class ActionOfferSoftware(Action):
    """software_request: signed in and the api has a non-empty catalogue, its items as buttons (closest match
    first) and "Something else"; otherwise ``software_offered`` false and the rule starts the request form."""

    def name(self) -> str:
        return "action_offer_software"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        return await offer_catalogue(
            dispatcher, tracker, action=self.name(), slot="software_offered", read=ApiClient.software_catalogue,
            button=lambda i: {"title": titled(i),
                              "payload": "/choose_software" + json.dumps({"software_item": i["slug"]})},
            text="I can request one of these for you. Which one do you need?")


def _next(item: dict, run: dict) -> str:
    """What happens to the request now, from the item and the run as it is."""
    name, team, ticket = item["name"], item["team_name"], run.get("ticket_number") or "your request"
    if run["status"] in ("failed", "cancelled", "denied"):
        return (f"I couldn't request {name} myself, so I've handed it to the service desk with everything attached: "
                f"{ticket}.")
    if item["needs_approval"] and run["status"] != "succeeded":
        who = run.get("approver") or "your manager"
        return (f"{name} needs your manager's approval first: I've asked {who} ({ticket}). Once they approve, it goes "
                f"to the {team} team to install. You'll see the decision in your notifications and on the ticket.")
    return f"I've sent your request for {name} to the {team} team: {ticket}. They'll contact you to install it."


class ActionRequestSoftwareItem(Action):
    """An item picked from the catalogue: starts the software_request run for it and says what happens next."""

    def name(self) -> str:
        return "action_request_software_item"

    @requires_sign_in("software_item", "software_offered")
    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        slug, client = tracker.get_slot("software_item"), context.api_client(tracker)
        try:
            item = next((i for i in await client.software_catalogue() if i["slug"] == slug), None)
            if item is None:
                dispatcher.utter_message(text=FAILED)
                return clear("software_item", "software_offered")
            run = await client.start_workflow(SOFTWARE, {"item": slug}, key=turn_key(tracker, SOFTWARE))
            run = await wait_for(client, SOFTWARE, run["id"], seconds=wait_s())
        except ApiError as error:
            report_api_error(dispatcher, error, action=self.name())
            return clear("software_item", "software_offered")
        dispatcher.utter_message(text=_next(item, run))
        logger.info("%s: run %s is %s", self.name(), run["id"], run["status"])
        return clear("software_item", "software_offered")
