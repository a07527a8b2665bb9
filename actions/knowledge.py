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
FOLLOW_UP = "If that doesn't help, I can open a ticket or get you a person."
INSTEAD = "I can open a ticket or get you a person instead."


def format_answer(answer: dict) -> str:
    """The answer text followed by its numbered sources, without blank lines."""
    text = context.one_paragraph(str(answer.get("answer") or ""))
    sources = []
    for citation in answer.get("citations") or []:
        title = citation.get("title") or citation.get("url") or "source"
        url = f" {citation['url']}" if citation.get("url") else ""
        sources.append(f"[{citation.get('n', len(sources) + 1)}] {title}{url}")
    if sources:
        text += "\nSources:\n" + "\n".join(sources)
    return text


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
            dispatcher.utter_message(text=format_answer(answer))
        else:
            dispatcher.utter_message(text=f"{UNSURE}\n{format_answer(answer)}")
            dispatcher.utter_message(text=FOLLOW_UP, buttons=OFFER_BUTTONS)
        return []
