"""The custom actions against the REAL deskmate api (a process on a test database, see conftest.py).

Each test plays the gateway's part of the turns (the user's messages stored, a fresh per-turn assertion in
the metadata), runs an action the way the action server does, and checks what the api now holds.
"""
from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import pytest
from conftest import Api
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions import forms, knowledge, replies
from actions.access import (
    SOMETHING_ELSE,
    ActionOfferAccess,
    ActionRequestAccess,
    ActionRequestGroup,
    ActionRequestSoftware,
    closest_first,
)
from actions.api_client import ApiError
from actions.handoff import ActionEscalateConversation
from actions.knowledge import ActionAnswerQuestion
from actions.software import ActionOfferSoftware, ActionRequestSoftwareItem
from actions.tickets import ActionCancelTicket, ActionCheckTicketStatus, ActionOpenTicket, ActionUpdateTicket
from actions.workflows import (
    ActionConfirmFix,
    ActionFinishWorkflow,
    ActionOfferWorkflow,
    ActionStartWorkflow,
    ValidateWorkflowForm,
)

DOMAIN = {"forms": {
    "open_ticket_form": {"required_slots": ["summary", "description", "urgency", "confirm_ticket"]},
    "ticket_status_form": {"required_slots": ["ticket_number"]},
}}


class Conversation:
    """A conversation in the api, with the tracker Rasa would hand the action server."""

    def __init__(self, api: Api, who: str | None = "employee") -> None:
        self.api = api
        self.id = api.conversation(api.setup[f"{who}_email"] if who else None)
        self.events: list[dict[str, Any]] = []

    def say(self, text: str, intent: str, *, entities: list[dict] | None = None,
            metadata: dict | None = None) -> Conversation:
        """One user turn: stored by the 'gateway', then the user event Rasa records (with the turn's metadata)."""
        turn_metadata = self.api.turn(self.id, text, intent if not text.startswith("/") else None)
        self.events.append({"event": "user", "text": text, "message_id": f"m{len(self.events)}",
                            "parse_data": {"intent": {"name": intent, "confidence": 0.93}, "entities": entities or []},
                            "metadata": turn_metadata if metadata is None else metadata})
        return self

    def types(self, text: str) -> str:
        """The employee types ``text`` while a step-up check may be open: the gateway screens it (the real
        api.chat.screening) and Rasa records what the gateway sent instead; returns that."""
        turn = self.api.say(self.id, text)
        sent = turn["to_rasa"]
        intent, _, entities = sent.lstrip("/").partition("{")
        found = [{"entity": k, "value": v} for k, v in (json.loads("{" + entities) if entities else {}).items()]
        self.events.append({"event": "user", "text": sent, "message_id": f"m{len(self.events)}",
                            "parse_data": {"intent": {"name": intent if sent.startswith("/") else "inform",
                                                      "confidence": 1.0}, "entities": found},
                            "metadata": turn["metadata"]})
        return sent

    def bot(self, text: str) -> Conversation:
        self.events.append({"event": "bot", "text": text})
        return self

    def tracker(self, slots: dict[str, Any] | None = None) -> Tracker:
        last = next(e for e in reversed(self.events) if e["event"] == "user")
        latest = {"text": last["text"], "intent": last["parse_data"]["intent"],
                  "entities": last["parse_data"]["entities"], "metadata": last["metadata"],
                  "message_id": last["message_id"]}
        return Tracker(self.id, slots or {}, latest, self.events, False, None, {}, "action_listen")


def run(action, t: Tracker, domain: dict | None = None) -> tuple[list[dict], list[dict]]:
    dispatcher = CollectingDispatcher()
    events = asyncio.run(action.run(dispatcher, t, domain if domain is not None else DOMAIN))
    return events, dispatcher.messages


def texts(messages: list[dict]) -> str:
    return " ".join(m.get("text") or "" for m in messages)


def number_in(messages: list[dict]) -> str:
    return next(w.strip(".,") for w in texts(messages).split() if w.startswith(("INC-", "REQ-")))


FORM = {"summary": "VPN drops every 5 minutes", "description": "Since Monday, on home wifi", "urgency": "high",
        "confirm_ticket": True}


def confirmed_form(api: Api, who: str | None = "employee") -> Conversation:
    return (Conversation(api, who).say("my vpn keeps dropping", "vpn_problem")
            .bot("If that doesn't solve it, I can open a ticket for you.").say("yes", "affirm"))


# --- opening tickets ------------------------------------------------------------------
def test_open_ticket_opens_the_conversations_ticket_for_its_employee(api: Api):
    conversation = confirmed_form(api)

    events, messages = run(ActionOpenTicket(), conversation.tracker(FORM))

    ticket = api.as_admin("GET", f"/tickets/{number_in(messages)}")
    assert ticket["title"] == "VPN drops every 5 minutes"
    assert ticket["description"].startswith("Since Monday, on home wifi")
    assert "Employee: my vpn keeps dropping" in ticket["description"]
    assert (ticket["type"], ticket["urgency"], ticket["source_type"]) == ("incident", 1, "CHATBOT")
    assert ticket["source_reference"] == conversation.id
    assert ticket["integration_metadata"]["intent"] == "vpn_problem"
    assert [t["number"] for t in api.tickets_of("employee")].count(ticket["number"]) == 1
    assert {e["name"]: e["value"] for e in events} == {
        "summary": None, "description": None, "urgency": None, "confirm_ticket": None}


def test_a_retry_of_the_same_turn_opens_one_ticket(api: Api):
    conversation = confirmed_form(api)

    first = number_in(run(ActionOpenTicket(), conversation.tracker(FORM))[1])
    retry = number_in(run(ActionOpenTicket(), conversation.tracker(FORM))[1])  # Rasa runs the action again
    conversation.say("and another one please", "open_ticket")
    later = number_in(run(ActionOpenTicket(), conversation.tracker(FORM))[1])

    assert first == retry != later


def test_anonymous_users_cannot_open_tickets(api: Api):
    before = len(api.as_admin("GET", "/tickets?limit=100")["items"])

    _, messages = run(ActionOpenTicket(), confirmed_form(api, who=None).tracker(FORM))

    assert texts(messages) == replies.SIGN_IN_FIRST
    assert len(api.as_admin("GET", "/tickets?limit=100")["items"]) == before


def test_an_assertion_of_another_conversation_opens_nothing(api: Api):
    mine = confirmed_form(api)
    theirs = Conversation(api, "other").say("my screen is broken", "hardware_problem")
    stolen = dict(mine.events[-1]["metadata"], conversation_id=theirs.id)  # replayed into another conversation
    theirs.say("yes", "affirm", metadata=stolen)

    _, messages = run(ActionOpenTicket(), theirs.tracker(FORM))

    assert texts(messages) == replies.FAILED
    everything = api.as_admin("GET", "/tickets?limit=100")["items"]
    assert [t for t in everything if t["source_reference"] == theirs.id] == []


def test_declined_confirmation_opens_nothing(api: Api):
    _, messages = run(ActionOpenTicket(), confirmed_form(api).tracker(FORM | {"confirm_ticket": False}))

    assert "didn't open" in texts(messages)


def test_api_errors_become_friendly_messages_and_log_lines(caplog: pytest.LogCaptureFixture):
    for status, expected in ((500, replies.UNAVAILABLE), (None, replies.UNAVAILABLE), (422, replies.FAILED),
                             (401, replies.UNAVAILABLE)):
        dispatcher = CollectingDispatcher()
        error = ApiError(status=status, title="Internal", detail="psycopg.errors.UndefinedTable: tickets",
                         method="POST", path="/api/v1/chat/conversations/x/tickets")
        with caplog.at_level("WARNING"):
            replies.report_api_error(dispatcher, error, action="action_open_ticket")
        assert texts(dispatcher.messages) == expected
        assert "psycopg" not in texts(dispatcher.messages)
    assert "status=500" in caplog.text


def test_unreachable_api_gives_a_friendly_message(api: Api, monkeypatch: pytest.MonkeyPatch):
    conversation = confirmed_form(api)
    monkeypatch.setenv("DESKMATE_API_URL", "http://127.0.0.1:9")  # nothing listens there

    _, messages = run(ActionOpenTicket(), conversation.tracker(FORM))

    assert texts(messages) == replies.UNAVAILABLE


# --- status, comments, cancellation -------------------------------------------------
def opened(api: Api) -> str:
    return number_in(run(ActionOpenTicket(), confirmed_form(api).tracker(FORM))[1])


def test_status_of_the_last_ticket(api: Api):
    number = opened(api)
    t = Conversation(api).say("status of my last ticket", "ticket_status").tracker({"ticket_number": "last"})

    events, messages = run(ActionCheckTicketStatus(), t)

    assert texts(messages).startswith(f'{number} "VPN drops every 5 minutes" is new (priority P')
    assert {"event": "slot", "name": "ticket_number", "value": None, "timestamp": None} in events


def test_status_when_the_user_has_no_ticket(api: Api):
    t = Conversation(api, "newcomer").say("status of my last ticket", "ticket_status").tracker(
        {"ticket_number": "last"})

    _, messages = run(ActionCheckTicketStatus(), t)

    assert texts(messages) == "You don't have any tickets yet."


def test_someone_elses_and_missing_tickets_look_the_same(api: Api):
    someone_elses = opened(api)
    answers = []
    for number in ("INC-999999", someone_elses):
        t = Conversation(api, "other").say(f"status of {number}", "ticket_status").tracker({"ticket_number": number})
        answers.append(texts(run(ActionCheckTicketStatus(), t)[1]))

    assert answers[0] == answers[1].replace(someone_elses, "INC-999999")
    assert "couldn't find INC-999999" in answers[0]


def test_update_adds_a_public_comment(api: Api):
    number = opened(api)
    t = Conversation(api).say("it happens on wifi too", "inform").tracker(
        {"ticket_number": number, "comment": "It happens on wifi too"})

    _, messages = run(ActionUpdateTicket(), t)

    assert texts(messages) == f"I've added your comment to {number}."
    comments = api.as_admin("GET", f"/tickets/{number}/comments")
    items = comments["items"] if isinstance(comments, dict) else comments
    assert [(c["body"], c["internal"]) for c in items] == [("It happens on wifi too", False)]


def test_cancel_then_cancel_again(api: Api):
    number = opened(api)

    def cancel() -> str:
        t = Conversation(api).say("yes", "affirm").tracker({"ticket_number": number, "confirm_cancel": True})
        return texts(run(ActionCancelTicket(), t)[1])

    assert cancel() == f"{number} is cancelled."
    assert api.as_admin("GET", f"/tickets/{number}")["status"] == "cancelled"
    assert "can't be cancelled any more" in cancel()


def test_cancel_not_confirmed_keeps_the_ticket(api: Api):
    number = opened(api)
    t = Conversation(api).say("no", "deny").tracker({"ticket_number": number, "confirm_cancel": False})

    _, messages = run(ActionCancelTicket(), t)

    assert "left the ticket" in texts(messages)
    assert api.as_admin("GET", f"/tickets/{number}")["status"] == "new"


# --- hand-off ---------------------------------------------------------------------------
def test_handoff_in_one_breath_with_the_problem(api: Api):
    """ "I want to talk to a human, my docking station is broken" used to end in a 422 and "that didn't work"."""
    conversation = Conversation(api).say("I want to talk to a human, my docking station is broken", "human_handoff")

    events, messages = run(ActionEscalateConversation(), conversation.tracker())

    assert "passed our conversation to the service desk" in texts(messages)
    ticket = api.as_admin("GET", f"/tickets/{number_in(messages)}")
    assert ticket["title"] == "I want to talk to a human, my docking station is broken"
    assert ticket["integration_metadata"]["reason"] == "user_request"
    assert "Employee: I want to talk to a human, my docking station is broken" in ticket["description"]
    assert {e["name"] for e in events} >= {"requested_slot", "summary", "ticket_number"}


def test_handoff_titles_the_ticket_with_the_problem(api: Api):
    conversation = (Conversation(api).say("my printer is jammed", "printer_problem")
                    .bot("Try opening the tray.").say("get me a human", "human_handoff"))

    _, messages = run(ActionEscalateConversation(), conversation.tracker())

    ticket = api.as_admin("GET", f"/tickets/{number_in(messages)}")
    assert ticket["title"] == "my printer is jammed"
    assert "Employee: get me a human" in ticket["description"]
    assert ticket["integration_metadata"]["intent"] == "printer_problem"


def test_fallback_handoff_says_why(api: Api):
    conversation = Conversation(api).say("blorp the frobnicator", "nlu_fallback").say("/human_handoff", "open_ticket")

    _, messages = run(ActionEscalateConversation(), conversation.tracker())

    assert api.as_admin("GET", f"/tickets/{number_in(messages)}")["integration_metadata"]["reason"] == "fallback"


def test_anonymous_handoff_asks_to_sign_in(api: Api):
    _, messages = run(ActionEscalateConversation(), Conversation(api, None).say("human please", "human_handoff")
                      .tracker())

    assert texts(messages) == replies.SIGN_IN_FIRST


# --- requests -----------------------------------------------------------------------------
def test_software_request_is_a_request_ticket(api: Api):
    conversation = (Conversation(api).say("i need visio", "software_request",
                                          entities=[{"entity": "software", "value": "visio"}])
                    .say("for process diagrams", "inform"))

    events, messages = run(ActionRequestSoftware(), conversation.tracker(
        {"software": "visio", "reason": "for process diagrams"}))

    ticket = api.as_admin("GET", f"/tickets/{number_in(messages)}")
    assert (ticket["type"], ticket["title"]) == ("request", "Software request: visio")
    assert "Software: visio" in ticket["description"] and "for process diagrams" in ticket["description"]
    assert {e["name"] for e in events} == {"software", "reason"}


def test_access_request_title_names_the_resource(api: Api):
    conversation = Conversation(api).say("i need vpn access", "vpn_access_request")

    _, messages = run(ActionRequestAccess(), conversation.tracker({"resource": "VPN", "reason": "working from home"}))

    assert api.as_admin("GET", f"/tickets/{number_in(messages)}")["title"] == "Access request: VPN"


# --- knowledge ------------------------------------------------------------------------------
def test_anonymous_visitors_may_ask_the_knowledge_base(api: Api):
    t = Conversation(api, None).say("how do i add a signature to my mail", "ask_question").tracker()

    _, messages = run(ActionAnswerQuestion(), t)

    assert not texts(messages).startswith(knowledge.KB_DOWN)  # the api answered (the test KB may be empty)


def test_an_answer_shows_its_citations_and_feedback_buttons():
    dispatcher = CollectingDispatcher()
    knowledge.utter_answer(dispatcher, {
        "answer": "Open Outlook settings.\n\nChoose Signatures.", "confident": True, "answer_id": 77,
        "citations": [{"n": 1, "title": "Email signatures", "url": "/kb/12", "article_id": "kb-sig"}]})

    [message] = dispatcher.messages
    assert message["text"] == "Open Outlook settings.\nChoose Signatures."
    assert message["custom"] == {"citations": [{"n": 1, "title": "Email signatures", "url": "/kb/12"}]}
    assert message["buttons"] == [{"title": "That solved it", "payload": "deskmate:kb_helpful:77"},
                                  {"title": "Open a ticket", "payload": "deskmate:open_ticket"}]


def test_knowledge_base_down_offers_a_ticket(api: Api, monkeypatch: pytest.MonkeyPatch):
    t = Conversation(api).say("what is mfa", "ask_question").tracker()
    monkeypatch.setenv("DESKMATE_API_URL", "http://127.0.0.1:9")

    _, messages = run(ActionAnswerQuestion(), t)

    assert texts(messages).startswith(knowledge.KB_DOWN)
    assert messages[-1]["buttons"] == replies.OFFER_BUTTONS


# --- forms ------------------------------------------------------------------------------------
def test_ticket_numbers_are_normalised():
    assert forms.normalize_ticket_number("inc 42") == "INC-000042"
    assert forms.normalize_ticket_number("it's REQ000123") == "REQ-000123"
    assert forms.normalize_ticket_number("#17") == "17"
    assert forms.normalize_ticket_number("last") == "last"
    assert forms.normalize_ticket_number("the blue one") is None


def test_urgency_words_are_normalised():
    assert forms.normalize_urgency("it's urgent") == "high"
    assert forms.normalize_urgency("not urgent at all") == "low"
    assert forms.normalize_urgency("Medium") == "medium"
    assert forms.normalize_urgency("purple") is None
    assert forms.normalize_urgency("my laptop is slow") is None  # "slow" is not "low"


def _tracker(text: str, intent: str, slots: dict[str, Any] | None = None) -> Tracker:
    event = {"event": "user", "text": text, "parse_data": {"intent": {"name": intent}, "entities": []}}
    latest = {"text": text, "intent": {"name": intent}, "entities": []}
    return Tracker("sender-1", slots or {}, latest, [event], False, None, {}, "action_listen")


def test_invalid_urgency_is_asked_again():
    dispatcher = CollectingDispatcher()

    slots = forms.ValidateOpenTicketForm().validate_urgency("purple", dispatcher, _tracker("purple", "inform"), DOMAIN)

    assert slots == {"urgency": None}
    assert dispatcher.messages[0]["response"] == "utter_invalid_urgency"


@pytest.mark.parametrize("pressed", ["/affirm", '/inform{"urgency": "high"}'])
def test_a_stale_button_pressed_while_the_title_is_asked_is_not_taken_as_the_title(pressed):
    dispatcher = CollectingDispatcher()

    slots = forms.ValidateOpenTicketForm().validate_summary(pressed, dispatcher, _tracker(pressed, "affirm"), DOMAIN)

    assert slots == {"summary": None}
    assert dispatcher.messages[0]["text"] == "Could you give me a few more words?"
    kept = forms.ValidateOpenTicketForm().validate_summary("/home is full", dispatcher, _tracker("x", "inform"), DOMAIN)
    assert kept == {"summary": "/home is full"}


def test_my_last_ticket_fills_the_ticket_number():
    t = _tracker("the most recent one", "inform", {"requested_slot": "ticket_number"})

    slots = asyncio.run(forms.ValidateTicketStatusForm().extract_ticket_number(CollectingDispatcher(), t, DOMAIN))

    assert slots == {"ticket_number": "last"}


def test_stopped_form_is_discarded():
    dispatcher = CollectingDispatcher()
    events = forms.ActionDiscardForm().run(dispatcher, _tracker("stop", "stop"), DOMAIN)

    assert {e["name"] for e in events} == {
        "requested_slot", "summary", "description", "urgency", "confirm_ticket", "ticket_number"}
    assert all(e["value"] is None for e in events)
    assert dispatcher.messages[0]["response"] == "utter_form_stopped"


# --- problems and messages the bot could not place: the knowledge base first ----------------------------
PRINTER_ARTICLE = {
    "id": "bot-test-printer-add", "title": "Add a network printer", "category": "printing", "tags": ["printer"],
    "body": "# Add a network printer\n\n## Windows\n\n1. Open Settings > Bluetooth & devices > Printers & scanners.\n"
            "2. Choose Add device and pick the printer by its floor name, e.g. FLOOR3-MFP.\n"
            "3. Print a test page to check that it works.\n"}


@pytest.fixture(scope="module")
def printer_article(real_api: Api) -> dict:
    return real_api.as_admin("POST", "/kb/articles", PRINTER_ARTICLE)


def test_a_problem_is_answered_from_the_kb_for_the_users_words(api: Api, printer_article: dict):
    t = Conversation(api).say("how do I add the printer on floor 3 to my laptop?", "printer_problem").tracker()

    _, messages = run(knowledge.ActionAnswerProblem(), t)

    [message] = messages
    assert "FLOOR3-MFP" in message["text"] or "Add device" in message["text"]
    assert message["custom"]["citations"][0]["title"] == "Add a network printer"
    assert [b["title"] for b in message["buttons"]] == ["That solved it"]  # the rule offers the ticket next
    assert message.get("response") is None


def test_a_problem_the_kb_cannot_answer_gets_the_intents_tip(api: Api, printer_article: dict):
    t = Conversation(api).say("zzkx qwv plorf", "vpn_problem").tracker()

    _, messages = run(knowledge.ActionAnswerProblem(), t)

    assert [m.get("response") for m in messages] == ["utter_vpn_problem"]


ACCESS_ARTICLE = {
    "id": "bot-test-share-access", "title": "Get access to a shared drive", "category": "access", "tags": ["permissions"],
    "body": "# Get access to a shared drive\n\n## How to request it\n\n1. Ask the deskmate bot for access and name the "
            "drive, e.g. the FIN-REPORTS share.\n2. The drive's owner approves the request within one working day.\n"
            "3. Sign out and in again so that Windows picks up the new group.\n"}


@pytest.fixture(scope="module")
def access_article(real_api: Api) -> dict:
    return real_api.as_admin("POST", "/kb/articles", ACCESS_ARTICLE)


def test_a_request_asked_as_a_question_gets_how_it_works_before_the_form(
        api: Api, access_article: dict, printer_article: dict):
    t = Conversation(api).say("how do I get access to the FIN-REPORTS shared drive?", "access_request").tracker()

    _, messages = run(knowledge.ActionAnswerRequest(), t)

    answer, offer = messages
    assert answer["text"].startswith(knowledge.HOW_IT_WORKS)
    assert "owner approves" in answer["text"] or "FIN-REPORTS" in answer["text"]
    assert answer["custom"]["citations"][0]["title"] == "Get access to a shared drive"
    assert offer["text"] == knowledge.FILE_IT  # the rule starts the form next


def test_a_request_whose_best_article_is_another_topic_goes_straight_to_the_form(
        api: Api, access_article: dict, printer_article: dict):
    # the printer article is the KB's best match, but it is not about software: no answer, the form asks at once
    t = Conversation(api).say("how do I add the printer on floor 3 to my laptop?", "software_request").tracker()

    _, messages = run(knowledge.ActionAnswerRequest(), t)

    assert messages == []


def test_an_unplaced_message_gets_a_good_kb_match_and_a_way_on(api: Api, printer_article: dict):
    t = Conversation(api).say("printer floor 3 add laptop how", "nlu_fallback").tracker()

    _, messages = run(knowledge.ActionAnswerFallback(), t)

    [message] = messages
    assert message["text"].startswith(knowledge.MAYBE)
    assert message["custom"]["citations"][0]["title"] == "Add a network printer"
    assert message["buttons"][1:] == replies.OFFER_BUTTONS


def test_an_unplaced_message_without_a_kb_match_asks_to_rephrase(api: Api, printer_article: dict):
    t = Conversation(api).say("zzkx qwv plorf", "nlu_fallback").tracker()

    _, messages = run(knowledge.ActionAnswerFallback(), t)

    assert [m.get("response") for m in messages] == ["utter_ask_rephrase"]


# --- me too: a report of a known issue ---------------------------------------------------
SCANNER = {"summary": "The scanner on floor 2 shows error E-42", "description": "It happens for everyone since 9am",
           "urgency": "medium", "confirm_ticket": True}


def test_a_second_report_joins_the_known_issue_and_mine_is_different_opens_a_ticket(api: Api):
    first = Conversation(api).say("the floor 2 scanner shows E-42", "hardware_problem")
    _, messages = run(ActionOpenTicket(), first.tracker(SCANNER))
    number = number_in(messages)
    assert texts(messages).startswith(f"Done: I've opened {number}")

    second = Conversation(api, "other").say("scanner on our floor says E-42", "hardware_problem")
    _, messages = run(ActionOpenTicket(), second.tracker({
        "summary": "floor 2 scanner says error E-42", "description": "Nobody on our floor can scan",
        "urgency": "medium", "confirm_ticket": True}))
    [reply] = messages
    assert reply["text"].startswith(f"This looks like a known issue: {number}.")
    assert "you'll hear when it's fixed" in reply["text"]
    assert reply["buttons"] == replies.DIFFERENT_BUTTONS and reply["custom"] == {"known_issue": number}
    affected = api.as_admin("GET", f"/tickets/{number}/affected-users")
    assert [u["email"] for u in affected] == [api.setup["employee_email"], api.setup["other_email"]]

    # "Mine is different": the button's /open_ticket runs the form again; this ticket is the employee's own
    second.events.append({"event": "bot", "text": reply["text"],
                          "data": {"buttons": reply["buttons"], "custom": reply["custom"]}})
    second.say("/open_ticket", "open_ticket")
    _, messages = run(ActionOpenTicket(), second.tracker({
        "summary": "Scanner E-42 only on my own desk scanner", "description": "The floor one works for me",
        "urgency": "low", "confirm_ticket": True}))
    own = number_in(messages)
    assert own != number and texts(messages).startswith(f"Done: I've opened {own}")
    assert api.as_admin("GET", f"/tickets/{own}")["integration_metadata"]["separate_from_known_issue"] is True
    affected = api.as_admin("GET", f"/tickets/{number}/affected-users")
    assert [u["email"] for u in affected] == [api.setup["employee_email"]]


def test_not_it_by_the_intent_model_but_well_known_to_the_kb_is_answered(api: Api, printer_article: dict):
    t = Conversation(api).say("add a network printer on windows, choose add device", "out_of_scope").tracker()

    _, messages = run(knowledge.ActionAnswerOutOfScope(), t)

    [message] = messages
    assert message["custom"]["citations"][0]["title"] == "Add a network printer"


def test_not_it_and_unknown_to_the_kb_is_refused(api: Api, printer_article: dict):
    t = Conversation(api).say("book me a table for two at an italian restaurant tonight", "out_of_scope").tracker()

    _, messages = run(knowledge.ActionAnswerOutOfScope(), t)

    assert [m.get("response") for m in messages] == ["utter_out_of_scope"]


# --- fixing it from the chat: account unlock and password reset (actions/workflows.py) ------------------
def offered(api: Api, text: str, intent: str, who: str = "employee") -> tuple[Conversation, dict, list[dict]]:
    """The employee reports the problem; action_offer_workflow's slots and messages."""
    conversation = Conversation(api, who).say(text, intent)
    events, messages = run(ActionOfferWorkflow(), conversation.tracker())
    return conversation, {e["name"]: e["value"] for e in events}, messages


def code_sent_to(api: Api, who: str) -> str:
    found = re.search(r"\b(\d{6})\b", api.mail_to(api.setup[f"{who}_email"]))
    assert found, "a code should have been e-mailed"
    return found.group(1)


def test_a_locked_out_employee_is_unlocked_and_says_whether_it_works(api: Api):
    username = api.locked_account(api.setup["employee_email"])
    conversation, slots, messages = offered(api, "I'm locked out of my account", "account_unlock")
    assert slots["workflow_offered"] is True and "unlock your account right now" in texts(messages)
    conversation.bot(texts(messages)).say(username, "inform")
    slots |= {"username": username}

    events, messages = run(ActionStartWorkflow(), conversation.tracker(slots))
    slots |= {e["name"]: e["value"] for e in events}
    code = code_sent_to(api, "employee")
    assert re.fullmatch(r"To confirm it's you: A code was sent to bo•••@example\.com\. It expires in \d+ minutes?\. "
                        r"Type the code here\.", texts(messages))
    assert code not in texts(messages)

    assert conversation.types(f"{code[:3]} {code[3:]}") == "/stepup_passed"
    api.drain_workflows()
    events, messages = run(ActionFinishWorkflow(), conversation.tracker(slots))

    assert api.account_opens(username), "the real directory should let the employee in again"
    assert texts(messages).endswith(f"Done: your account {username} is unlocked. Can you sign in now?")
    assert [b["payload"] for b in messages[-1]["buttons"]] == ["/affirm", "/deny"]
    assert {e["name"]: e["value"] for e in events} == {"fix_asked": True}
    run_record = api.as_admin("GET", f"/workflows/runs/{slots['workflow_run']}")
    assert (run_record["status"], run_record["verified"]) == ("succeeded", True)
    ticket = api.as_admin("GET", f"/tickets/{run_record['ticket_id']}")
    assert (ticket["status"], ticket["resolution"]) == ("resolved", "auto")
    assert code not in json.dumps(conversation.events)  # what Rasa's tracker would hold

    conversation.say("no, it still doesn't let me in", "deny")
    _, messages = run(ActionConfirmFix(), conversation.tracker(slots | {"fix_asked": True}))

    reopened = api.as_admin("GET", f"/tickets/{run_record['ticket_id']}")
    assert f"I've reopened {ticket['number']}" in texts(messages)
    assert (reopened["status"], reopened["team"]) == ("new", "identity")


def test_a_password_reset_says_where_the_one_time_password_went_never_what_it_is(api: Api):
    username = api.locked_account(api.setup["employee_email"])
    conversation, slots, _ = offered(api, "I forgot my password", "password_reset")
    conversation.say(username, "inform")
    slots |= {"username": username}
    events, _ = run(ActionStartWorkflow(), conversation.tracker(slots))
    slots |= {e["name"]: e["value"] for e in events}

    assert conversation.types(code_sent_to(api, "employee")) == "/stepup_passed"
    api.drain_workflows()
    _, messages = run(ActionFinishWorkflow(), conversation.tracker(slots))

    password = re.search(r"one-time password is (\S+)\.", api.mail_to(api.setup["employee_email"]))
    assert password, "the one-time password should have gone out by e-mail"
    assert "a one-time password for " + username + " was sent to bo•••@example.com" in texts(messages)
    assert password.group(1) not in texts(messages)


def test_the_bot_does_not_claim_success_while_the_run_is_still_going(api: Api, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("DESKMATE_ACTIONS_WORKFLOW_WAIT_S", "0")
    username = api.locked_account(api.setup["newcomer_email"])
    conversation, slots, _ = offered(api, "my account is locked", "account_unlock", who="newcomer")
    conversation.say(username, "inform")
    slots |= {"username": username}
    events, _ = run(ActionStartWorkflow(), conversation.tracker(slots))
    slots |= {e["name"]: e["value"] for e in events}
    conversation.types(code_sent_to(api, "newcomer"))  # no worker ran: the run has not got past its first step

    events, messages = run(ActionFinishWorkflow(), conversation.tracker(slots))

    assert "taking longer than usual" in texts(messages) and "Done" not in texts(messages)
    assert {e["name"]: e["value"] for e in events} == {"fix_asked": False}
    assert not api.account_opens(username)


def test_wrong_codes_count_down_then_lock_and_open_the_takeover_ticket(api: Api):
    conversation, slots, _ = offered(api, "locked out again", "account_unlock", who="unlucky")
    conversation.say("unlucky", "inform")
    run(ActionStartWorkflow(), conversation.tracker(slots | {"username": "unlucky"}))
    wrong = f"{(int(code_sent_to(api, 'unlucky')) + 1) % 10**6:06d}"

    sent = [conversation.types(wrong) for _ in range(5)]

    assert sent[:4] == [f'/stepup_failed{{"attempts_left": {n}}}' for n in (4, 3, 2, 1)]
    assert sent[4] == "/stepup_locked"
    assert wrong not in json.dumps(conversation.events)
    takeover = [t for t in api.as_admin("GET", "/tickets?limit=100")["items"]
                if t["source_reference"] == conversation.id and t["title"].startswith("Possible account takeover")]
    assert len(takeover) == 1
    _, messages = run(ActionStartWorkflow(), conversation.say("unlock my account", "account_unlock")
                      .tracker(slots | {"username": "unlucky"}))
    assert "locked for now" in texts(messages)


LOCKOUT_ARTICLE = {
    "id": "bot-test-lockout", "title": "Locked out of your account", "category": "accounts", "tags": ["lockout"],
    "body": "# Locked out of your account\n\n## Why it happens\n\nFive wrong passwords in a row lock the account for "
            "15 minutes.\n\n## What to do\n\n1. Wait 15 minutes, or ask the deskmate bot to unlock it now.\n"
            "2. Update the saved password on your phone so that it stops locking you out again.\n"}


@pytest.fixture(scope="module")
def lockout_article(real_api: Api) -> dict:
    return real_api.as_admin("POST", "/kb/articles", LOCKOUT_ARTICLE)


def test_a_signed_in_employee_gets_the_kb_answer_with_its_source_before_the_offer(api: Api, lockout_article: dict):
    _, slots, messages = offered(api, "my account is locked out after too many wrong passwords, what do I do?",
                                 "account_unlock")

    answer, offer = messages
    assert answer["custom"]["citations"][0]["title"] == "Locked out of your account"
    assert [b["title"] for b in answer["buttons"]] == ["That solved it"]
    assert "unlock your account right now" in offer["text"] and slots["workflow_offered"] is True


def test_anonymous_users_get_the_answer_and_how_signing_in_helps(api: Api):
    _, slots, messages = offered(api, "I'm locked out of my account", "account_unlock", who=None)

    assert slots == {"workflow": None, "workflow_offered": False}
    assert "signed in" in texts(messages) and "unlock your account for you" in texts(messages)


def test_the_username_must_look_like_one():
    dispatcher = CollectingDispatcher()
    form = ValidateWorkflowForm()
    asked = _tracker("my usual one I think", "inform", {"requested_slot": "username"})
    assert form.validate_username(" CORP\\jordan.blake ", dispatcher, asked, {}) == {"username": "CORP\\jordan.blake"}
    assert form.validate_username("my usual one I think", dispatcher, asked, {}) == {"username": None}
    assert "doesn't look like a username" in texts(dispatcher.messages)


def test_the_request_that_starts_the_form_is_not_taken_for_a_bad_username():
    dispatcher = CollectingDispatcher()
    starting = _tracker("I'm locked out of my account", "account_unlock", {"requested_slot": None})
    assert ValidateWorkflowForm().validate_username("I'm locked out of my account", dispatcher, starting, {}) == {
        "username": None}
    assert dispatcher.messages == []  # the form asks for the username next; no complaint about the request


# --- access to a group from the catalogue (actions/access.py) ---------------------------------------------------
def test_a_signed_in_employee_picks_a_group_and_is_told_who_approves(api: Api, monkeypatch: pytest.MonkeyPatch):
    username = api.report_of("requester", manager="approver")
    conversation = Conversation(api, "requester").say("I need access to the finance share", "access_request")
    events, messages = run(ActionOfferAccess(), conversation.tracker())
    buttons = messages[-1]["buttons"]
    picked = json.loads(buttons[0]["payload"].removeprefix("/choose_group"))["group_dn"]
    conversation.say(buttons[0]["payload"], "choose_group", entities=[{"entity": "group_dn", "value": picked}])
    monkeypatch.setenv("DESKMATE_ACTIONS_WORKFLOW_WAIT_S", "0")  # no worker yet: the run has not reached approval
    _, sent = run(ActionRequestGroup(), conversation.tracker({"group_dn": picked}))
    api.drain_workflows()
    retried, told = run(ActionRequestGroup(), conversation.tracker({"group_dn": picked}))  # Rasa runs it again

    assert {e["name"]: e["value"] for e in events} == {"access_offered": True}
    assert buttons[0]["title"] == "finance-share: The Finance shared drive" and buttons[-1] == SOMETHING_ELSE
    assert "goes to your manager for approval" in texts(sent)
    assert re.fullmatch(r"I've asked Bot Test approver to approve your access to finance-share \(REQ-\d+\)\. "
                        r"You'll see their decision in your notifications and on the ticket\.", texts(told))
    assert {e["name"]: e["value"] for e in retried} == {"group_dn": None, "access_offered": None}
    runs = [r for r in api.as_admin("GET", "/workflows/runs?workflow=access_request&limit=100")["items"]
            if r["inputs"].get("username") == username]
    assert len(runs) == 1 and runs[0]["inputs"]["group_dn"] == picked and runs[0]["status"] == "waiting"


def test_vpn_access_offers_the_catalogue_with_the_vpn_group_first(api: Api):
    api.report_of("requester", manager="approver")
    conversation = Conversation(api, "requester").say("I need VPN access to work from home", "vpn_access_request")
    events, messages = run(ActionOfferAccess(), conversation.tracker())

    assert {e["name"]: e["value"] for e in events} == {"access_offered": True}
    assert messages[-1]["buttons"][0]["title"].startswith("vpn-users: ")


def test_the_catalogue_comes_after_the_kb_answer_with_its_source(api: Api, access_article: dict):
    api.report_of("requester", manager="approver")
    conversation = Conversation(api, "requester").say("how do I get access to the FIN-REPORTS shared drive?",
                                                      "access_request")
    events, messages = run(ActionOfferAccess(), conversation.tracker())

    answer, catalogue = messages
    assert answer["text"].startswith(knowledge.HOW_IT_WORKS)
    assert answer["custom"]["citations"][0]["title"] == "Get access to a shared drive"
    assert catalogue["buttons"][-1] == SOMETHING_ELSE and {e["name"]: e["value"] for e in events} == {
        "access_offered": True}


def test_anonymous_visitors_get_the_ticket_form_for_access(api: Api):
    conversation = Conversation(api, None).say("I need access to the finance share", "access_request")
    events, messages = run(ActionOfferAccess(), conversation.tracker())

    assert {e["name"]: e["value"] for e in events} == {"access_offered": False} and messages == []


def test_the_closest_group_comes_first():
    groups = [{"name": "vpn-users", "description": "Remote access through the VPN"},
              {"name": "finance-share", "description": "The Finance shared drive"}]
    assert [g["name"] for g in closest_first(groups, "can I get onto the finance drive?")] == [
        "finance-share", "vpn-users"]
    assert [g["name"] for g in closest_first(groups, None)] == ["vpn-users", "finance-share"]


# --- software from the catalogue (actions/software.py) -----------------------------------------------------------
def _pick(conversation: Conversation, text: str) -> tuple[list[dict], list[dict], str]:
    """The employee asks for software (``text``) and picks the first button: the offer's events and buttons, and
    the slug picked."""
    events, messages = run(ActionOfferSoftware(), conversation.say(text, "software_request").tracker())
    buttons = messages[-1]["buttons"]
    slug = json.loads(buttons[0]["payload"].removeprefix("/choose_software"))["software_item"]
    conversation.say(buttons[0]["payload"], "choose_software", entities=[{"entity": "software_item", "value": slug}])
    return events, buttons, slug


def test_software_without_approval_is_sent_to_the_team_that_installs_it(api: Api, monkeypatch: pytest.MonkeyPatch):
    conversation = Conversation(api)
    events, buttons, slug = _pick(conversation, "can I get slack please")
    monkeypatch.setenv("DESKMATE_ACTIONS_WORKFLOW_WAIT_S", "0")  # what it says does not depend on the worker
    done, told = run(ActionRequestSoftwareItem(), conversation.tracker({"software_item": slug}))
    api.drain_workflows()
    ticket = api.as_admin("GET", f"/tickets/{number_in(told)}")
    [started] = [r for r in api.as_admin("GET", "/workflows/runs?workflow=software_request&limit=100")["items"]
                 if r["ticket_id"] == ticket["id"]]

    assert {e["name"]: e["value"] for e in events} == {"software_offered": True}
    assert buttons[0]["title"] == "Slack: Team chat (free for every employee)" and buttons[-1] == SOMETHING_ELSE
    assert re.fullmatch(r"I've sent your request for Slack to the Business Applications team: REQ-\d+\. "
                        r"They'll contact you to install it\.", texts(told))
    assert {e["name"]: e["value"] for e in done} == {"software_item": None, "software_offered": None}
    assert started["inputs"] == {"item": "slack"}
    assert api.as_admin("GET", f"/workflows/runs/{started['id']}")["status"] == "succeeded"
    assert (api.as_admin("GET", f"/tickets/{ticket['number']}")["team"], ticket["type"]) == ("applications", "request")


def test_software_needing_approval_names_the_manager(api: Api, monkeypatch: pytest.MonkeyPatch):
    api.report_of("buyer", manager="buyer_manager")
    conversation = Conversation(api, "buyer")
    _, buttons, slug = _pick(conversation, "I need tableau for dashboards")
    monkeypatch.setenv("DESKMATE_ACTIONS_WORKFLOW_WAIT_S", "0")  # no worker yet: the run has not reached approval
    _, sent = run(ActionRequestSoftwareItem(), conversation.tracker({"software_item": slug}))
    api.drain_workflows()
    _, told = run(ActionRequestSoftwareItem(), conversation.tracker({"software_item": slug}))  # Rasa runs it again

    assert slug == "tableau"
    assert re.fullmatch(r"Tableau Desktop needs your manager's approval first: I've asked your manager \(REQ-\d+\)\. "
                        r"Once they approve, it goes to the Business Applications team to install\. You'll see the "
                        r"decision in your notifications and on the ticket\.", texts(sent))
    assert "I've asked Bot Test buyer_manager (" in texts(told)
    [number] = set(re.findall(r"REQ-\d+", texts(sent) + texts(told)))  # the same turn started one run
    assert api.as_admin("GET", f"/tickets/{number}")["team"] is None, "nobody installs it before approval"


def test_anonymous_visitors_and_unknown_items_get_no_run(api: Api):
    anonymous = Conversation(api, None).say("I need slack", "software_request")
    events, messages = run(ActionOfferSoftware(), anonymous.tracker())
    signed_in = Conversation(api).say('/choose_software{"software_item": "nope"}', "choose_software")
    cleared, failed = run(ActionRequestSoftwareItem(), signed_in.tracker({"software_item": "nope"}))

    assert {e["name"]: e["value"] for e in events} == {"software_offered": False} and messages == []
    assert texts(failed) == replies.FAILED
    assert {e["name"]: e["value"] for e in cleared} == {"software_item": None, "software_offered": None}


def _after_an_offer(problem: str, latest: str = "/affirm", intent: str = "affirm") -> Tracker:
    events = [{"event": "user", "text": problem, "parse_data": {"intent": {"name": "hardware_problem"}}},
              {"event": "bot", "text": "If that doesn't solve it, I can open a ticket for you. Shall I?"},
              {"event": "user", "text": latest, "parse_data": {"intent": {"name": intent}}}]
    return Tracker("sender-1", {}, {"text": latest, "intent": {"name": intent}, "entities": []}, events, False, None,
                   {}, "action_listen")


def test_yes_to_the_ticket_offer_takes_the_problem_already_told_as_title_and_description():
    problem = "My docking station stopped charging the laptop. The monitors stay black too."
    form, tracker = forms.ValidateOpenTicketForm(), _after_an_offer(problem)

    assert asyncio.run(form.extract_summary(CollectingDispatcher(), tracker, DOMAIN)) == {
        "summary": "My docking station stopped charging the laptop."}
    assert asyncio.run(form.extract_description(CollectingDispatcher(), tracker, DOMAIN)) == {"description": problem}


@pytest.mark.parametrize(("problem", "latest", "intent"), [
    ("printer", "/affirm", "affirm"),  # too short to be a description
    ("/inform{\"urgency\": \"high\"}", "/affirm", "affirm"),  # a button, e.g. "Yes, submit" after the urgency
    ("My docking station stopped charging the laptop.", "I want to open a ticket", "open_ticket"),  # asked directly
])
def test_the_form_asks_when_nothing_was_told_before_the_offer(problem, latest, intent):
    form, tracker = forms.ValidateOpenTicketForm(), _after_an_offer(problem, latest, intent)

    assert asyncio.run(form.extract_summary(CollectingDispatcher(), tracker, DOMAIN)) == {}
    assert asyncio.run(form.extract_description(CollectingDispatcher(), tracker, DOMAIN)) == {}
