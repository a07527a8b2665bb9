"""The knowledge action: answers questions from the api's knowledge base."""
from __future__ import annotations

import logging

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from actions import context
from actions.api_client import ApiError
from actions.replies import OFFER_BUTTONS

logger = logging.getLogger(__name__)

NO_QUESTION = "What would you like to know? Ask me in a sentence and I'll search the knowledge base."
NOT_FOUND = "I couldn't find an answer to that in the knowledge base."
KB_DOWN = "Sorry, I can't search the knowledge base right now."
UNSURE = "This is the closest I found, but I'm not sure it answers your question:"
INSTEAD = "I can open a ticket or get you a person instead."


def feedback_buttons(answer: dict) -> list:
    """"That solved it" (the gateway records it as helpful feedback) and "Open a ticket"."""
    buttons = [{"title": "Open a ticket", "payload": "deskmate:open_ticket"}]
    if answer.get("answer_id") is not None:
        buttons.insert(0, {"title": "That solved it", "payload": f"deskmate:kb_helpful:{answer['answer_id']}"})
    return buttons


def utter_answer(dispatcher: CollectingDispatcher, answer: dict, prefix: str = "") -> None:
    """The answer, its structured citations and the feedback buttons."""
    citations = [{"n": c.get("n"), "title": c.get("title"), "url": c.get("url")}
                 for c in answer.get("citations") or []]
    # The gateway renders the structured citations, so the text carries the answer alone.
    text = context.one_paragraph(str(answer.get("answer") or ""))
    dispatcher.utter_message(text=f"{prefix}{text}", buttons=feedback_buttons(answer),
                             json_message={"citations": citations} if citations else None)


class ActionAnswerQuestion(Action):
    def name(self) -> str:
        return "action_answer_question"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain
    ) -> list[EventType]:
        question = context.last_user_text(tracker)
        if not question:
            dispatcher.utter_message(text=NO_QUESTION)
            return []
        try:
            answer = await context.api_client(tracker).answer_question(question)
        except ApiError as error:
            logger.warning("%s: kb answer failed: status=%s title=%r",
                           self.name(), error.status, error.title)
            dispatcher.utter_message(text=f"{KB_DOWN} {INSTEAD}", buttons=OFFER_BUTTONS)
            return []
        if not str(answer.get("answer") or "").strip():
            dispatcher.utter_message(text=f"{NOT_FOUND} {INSTEAD}", buttons=OFFER_BUTTONS)
        elif answer.get("confident"):
            utter_answer(dispatcher, answer)
        else:
            utter_answer(dispatcher, answer, prefix=f"{UNSURE}\n")
        return []
