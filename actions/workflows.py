"""Fixing it from the chat: account unlock and password reset through the api's workflows (docs/bot.md).

The dialogue: the problem intent → ``action_offer_workflow`` (signed in: the offer, then ``workflow_form`` asks
which account; anonymous: the knowledge answer, how signing in helps, the ticket offer) → ``action_start_workflow``
(a step-up code is sent, the run is started) → the employee types the code, which the api's gateway checks itself:
Rasa only ever sees ``/stepup_passed``, ``/stepup_failed{"attempts_left": n}``, ``/stepup_locked`` or
``/stepup_expired`` (api/chat/screening.py) → ``action_finish_workflow`` waits (bounded) for the run and tells
the outcome; it never claims success before the api says ``succeeded`` with ``verified: true`` →
``action_confirm_fix`` ("Can you sign in now?" yes / no; no hands the ticket back to a person).
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import time
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import context
from actions.api_client import ApiClient, ApiError
from actions.helpers import clear, requires_sign_in
from actions.knowledge import ActionAnswerProblem, kb_answer
from actions.replies import FAILED, OFFER_BUTTONS, report_api_error

logger = logging.getLogger(__name__)

WORKFLOWS = {
    "account_unlock": {"offer": "I can unlock your account right now, after a quick check that it's you "
                                "(I'll send you a one-time code).",
                       "done": "Done: your account {username} is unlocked. Can you sign in now?",
                       "signed_out": "If you chat with me signed in (here, in Slack or in Teams), I can unlock "
                                     "your account for you right away."},
    "password_reset": {"offer": "I can reset your password right now, after a quick check that it's you (I'll "
                                "send you a one-time code). The new one-time password never appears in this chat.",
                       "done": "Done: a one-time password for {username} was sent to {where}. Sign in with it "
                               "and choose a new password straight away. Can you sign in now?",
                       "signed_out": "If you chat with me signed in (here, in Slack or in Teams), I can reset "
                                     "your password for you right away."},
}
FLOW_SLOTS = ("workflow", "workflow_offered", "username", "workflow_run", "fix_asked", "attempts_left")
YES_NO = [{"title": "Yes, it works", "payload": "/affirm"}, {"title": "No, still not", "payload": "/deny"}]
USERNAME = re.compile(r"^[A-Za-z0-9._\\@-]{1,128}$")
POLL_S = 0.5
STEP_UP_REFUSALS = (409, 423, 429, 502)  # no factor, locked, too many codes, not delivered: the detail says why


def wait_s() -> float:
    """How long action_finish_workflow waits for the run (DESKMATE_ACTIONS_WORKFLOW_WAIT_S, default 8): well
    inside the gateway's timeout for a turn (DESKMATE_RASA_TIMEOUT_S, 30)."""
    return float(os.environ.get("DESKMATE_ACTIONS_WORKFLOW_WAIT_S") or 8)


def turn_key(tracker: Tracker, purpose: str) -> str:
    """An Idempotency-Key of this conversation's current turn: Rasa running the action again sends the same."""
    message = (tracker.latest_message or {}).get("message_id") or ""
    seed = f"{context.conversation_id(tracker)}:{message}:{purpose}"
    return f"chat-{hashlib.sha256(seed.encode()).hexdigest()[:32]}"


def workflow_of(tracker: Tracker) -> str | None:
    name = tracker.get_slot("workflow")
    return name if name in WORKFLOWS else None


class ActionOfferWorkflow(Action):
    """account_unlock / password_reset: signed in, the KB's confident answer (if any) and the offer (the form then
    asks which account); anonymous, the knowledge answer and how signing in would help (the rule then offers a
    ticket)."""

    def name(self) -> str:
        return "action_offer_workflow"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        name = (tracker.latest_message.get("intent") or {}).get("name")
        if name not in WORKFLOWS:
            return [SlotSet("workflow_offered", False)]
        if not context.signed_in(tracker):
            await ActionAnswerProblem().run(dispatcher, tracker, domain)
            dispatcher.utter_message(text=WORKFLOWS[name]["signed_out"])
            return [SlotSet("workflow", None), SlotSet("workflow_offered", False)]
        # the KB's how-to first (with its source), for whoever only wanted to know; then the offer to do it
        await kb_answer(dispatcher, tracker, self.name())
        dispatcher.utter_message(text=WORKFLOWS[name]["offer"])
        return [SlotSet("workflow", name), SlotSet("workflow_offered", True), SlotSet("username", None)]


class ValidateWorkflowForm(FormValidationAction):
    def name(self) -> str:
        return "validate_workflow_form"

    def validate_username(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                          domain: DomainDict) -> dict[str, Any]:
        text = str(value or "").strip()
        if USERNAME.match(text):
            return {"username": text}
        if tracker.get_slot("requested_slot") != "username":
            # the form is starting: the text is the request itself ("I'm locked out"), not an answer; it asks next
            return {"username": None}
        dispatcher.utter_message(text="That doesn't look like a username: one word, like jordan.blake or "
                                      "CORP\\jordan.blake.")
        return {"username": None}


class ActionDeclineWorkflow(Action):
    """"No thanks" (or stop) while the form asks for the account: nothing changes; the self-help tip."""

    def name(self) -> str:
        return "action_decline_workflow"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        name = workflow_of(tracker)
        dispatcher.utter_message(text="OK, I won't change anything.")
        if name:
            dispatcher.utter_message(response=f"utter_{name}")
        return clear(*FLOW_SLOTS, "requested_slot")


async def send_code(dispatcher: CollectingDispatcher, client: ApiClient, tracker: Tracker, *,
                    action: str) -> dict | None:
    """Starts a step-up challenge and says where the code went (masked); None (after saying why) when refused."""
    try:
        challenge = await client.start_challenge(key=turn_key(tracker, "code"))
    except ApiError as error:
        if error.status in STEP_UP_REFUSALS and error.detail:
            logger.info("%s: step-up refused: %s %s", action, error.status, error.type)
            dispatcher.utter_message(text=error.detail, buttons=OFFER_BUTTONS)
        else:
            report_api_error(dispatcher, error, action=action)
        return None
    dispatcher.utter_message(text=f"To confirm it's you: {challenge['message']} Type the code here.")
    return challenge


class ActionStartWorkflow(Action):
    """The form is done: the code goes out first (a refusal starts nothing), then the run is started."""

    def name(self) -> str:
        return "action_start_workflow"

    @requires_sign_in(*FLOW_SLOTS)
    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        name, client = workflow_of(tracker), context.api_client(tracker)
        if name is None:
            dispatcher.utter_message(text=FAILED)
            return clear(*FLOW_SLOTS)
        if await send_code(dispatcher, client, tracker, action=self.name()) is None:
            return clear(*FLOW_SLOTS)
        try:
            run = await client.start_workflow(name, {"username": tracker.get_slot("username")},
                                              key=turn_key(tracker, name))
        except ApiError as error:
            report_api_error(dispatcher, error, action=self.name())
            return clear(*FLOW_SLOTS)
        logger.info("%s: run %s of %s started", self.name(), run["id"], name)
        return [SlotSet("workflow_run", str(run["id"])), SlotSet("workflow_offered", None)]


class ActionSendCode(Action):
    """The code expired: a new one (rate limits apply)."""

    def name(self) -> str:
        return "action_send_code"

    @requires_sign_in(*FLOW_SLOTS)
    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        dispatcher.utter_message(text="That code has expired, so here is a new one.")
        await send_code(dispatcher, context.api_client(tracker), tracker, action=self.name())
        return []


async def wait_for(client: ApiClient, name: str, run_id: int, *, seconds: float) -> dict:
    """The run once it is no longer running, or as it is after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        run = await client.get_workflow_run(name, run_id)
        if run["status"] != "running" or time.monotonic() + POLL_S > deadline:
            return run
        await asyncio.sleep(POLL_S)


class ActionFinishWorkflow(Action):
    """The code was right (``/stepup_passed``, from the gateway): waits for the run, then says how it went."""

    def name(self) -> str:
        return "action_finish_workflow"

    @requires_sign_in(*FLOW_SLOTS)
    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        name, run_id = workflow_of(tracker), tracker.get_slot("workflow_run")
        if name is None or not run_id:
            dispatcher.utter_message(text="Thanks, that code is right. There's nothing waiting for it any more.")
            return [SlotSet("fix_asked", False)]
        dispatcher.utter_message(text="Thanks, that's you. Working on it…")
        try:
            run = await wait_for(context.api_client(tracker), name, int(run_id), seconds=wait_s())
        except ApiError as error:
            report_api_error(dispatcher, error, action=self.name())
            return [SlotSet("fix_asked", False)]
        ticket = run.get("ticket_number") or "your request"
        if run["status"] == "succeeded" and run.get("verified") is True:
            where = run.get("delivered_to") or "your phone or e-mail address on file"
            text = WORKFLOWS[name]["done"].format(username=tracker.get_slot("username") or "", where=where)
            dispatcher.utter_message(text=" ".join(text.split()), buttons=YES_NO)
            return [SlotSet("fix_asked", True)]
        if run["status"] == "running":
            dispatcher.utter_message(text=f"It's taking longer than usual. I'm tracking it as {ticket}: it will "
                                          "say when it's done, and you can ask me for its status any time.")
        else:
            dispatcher.utter_message(text=f"I couldn't finish that myself, so I've handed it to the service desk "
                                          f"with everything attached: {ticket}. Someone will contact you.")
        return [SlotSet("fix_asked", False)]


class ActionConfirmFix(Action):
    """The answer to "Can you sign in now?": yes ends it; no reopens the run's ticket for a person."""

    def name(self) -> str:
        return "action_confirm_fix"

    @requires_sign_in(*FLOW_SLOTS)
    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        name, run_id = workflow_of(tracker), tracker.get_slot("workflow_run")
        if (tracker.latest_message.get("intent") or {}).get("name") != "deny" or name is None or not run_id:
            dispatcher.utter_message(text="Great, glad it's sorted! Anything else I can help with?")
            return clear(*FLOW_SLOTS)
        try:
            run = await context.api_client(tracker).report_not_fixed(name, int(run_id))
        except ApiError as error:
            report_api_error(dispatcher, error, action=self.name())
            return clear(*FLOW_SLOTS)
        dispatcher.utter_message(text=f"Sorry about that. I've reopened {run.get('ticket_number') or 'your ticket'} "
                                      "and handed it to the service desk with everything attached; someone will "
                                      "contact you.")
        return clear(*FLOW_SLOTS)
