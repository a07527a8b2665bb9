"""Unit tests of the custom actions against a fake deskmate api (see conftest.py)."""
from __future__ import annotations

import asyncio
import logging
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions import forms, knowledge, replies
from actions.access import ActionRequestAccess, ActionRequestSoftware
from actions.knowledge import ActionAnswerQuestion
from actions.tickets import (
    ActionCancelTicket,
    ActionCheckTicketStatus,
    ActionEscalateConversation,
    ActionOpenTicket,
    ActionUpdateTicket,
)

EMAIL = "ada@example.com"
CONVERSATION = "conv-7"
DOMAIN = {"forms": {
    "open_ticket_form": {"required_slots": ["summary", "description", "urgency", "confirm_ticket"]},
    "ticket_status_form": {"required_slots": ["ticket_number"]},
}}
TICKET = {"id": 42, "number": "INC-000042", "title": "VPN drops", "status": "in_progress",
          "priority": 3}


def user(text: str, intent: str, *, message_id: str = "m1", confidence: float = 0.93,
         entities: list[dict] | None = None, metadata: dict | None = None) -> dict[str, Any]:
    return {"event": "user", "text": text, "message_id": message_id,
            "parse_data": {"intent": {"name": intent, "confidence": confidence},
                           "entities": entities or []},
            "metadata": metadata if metadata is not None else
            {"employee_email": EMAIL, "conversation_id": CONVERSATION}}


def tracker(events: list[dict], slots: dict[str, Any] | None = None) -> Tracker:
    last = next(e for e in reversed(events) if e["event"] == "user")
    latest = {"text": last["text"], "intent": last["parse_data"]["intent"],
              "entities": last["parse_data"]["entities"], "metadata": last["metadata"],
              "message_id": last["message_id"]}
    return Tracker("sender-1", slots or {}, latest, events, False, None, {}, "action_listen")


def run(action, t: Tracker, domain: dict | None = None) -> tuple[list[dict], list[dict]]:
    dispatcher = CollectingDispatcher()
    events = asyncio.run(action.run(dispatcher, t, domain if domain is not None else DOMAIN))
    return events, dispatcher.messages


def texts(messages: list[dict]) -> str:
    return " ".join(m.get("text") or "" for m in messages)


def confirmed_ticket_tracker(message_id: str = "m3", metadata: dict | None = None) -> Tracker:
    meta = {} if metadata is None else {"metadata": metadata}
    events = [
        user("my vpn keeps dropping", "vpn_problem", message_id="m1", **meta),
        {"event": "bot", "text": "If that doesn't solve it, I can open a ticket for you."},
        user("yes", "affirm", message_id="m2", **meta),
        user("yes", "affirm", message_id=message_id, **meta),
    ]
    return tracker(events, {"summary": "VPN drops every 5 minutes",
                            "description": "Since Monday, on home wifi", "urgency": "high",
                            "confirm_ticket": True})


# --- opening tickets ------------------------------------------------------------------
def test_open_ticket_posts_the_ticket_with_service_headers(fake_api):
    fake_api.on("POST", "/api/v1/tickets", 201, {**TICKET, "status": "new"})

    events, messages = run(ActionOpenTicket(), confirmed_ticket_tracker())

    [req] = fake_api.requests
    assert (req.method, req.path) == ("POST", "/api/v1/tickets")
    assert req.headers["authorization"] == "Bearer test-service-token"
    assert req.headers["x-on-behalf-of"] == EMAIL
    assert req.headers["idempotency-key"] == f"{CONVERSATION}:m3"
    body = req.body
    assert body["title"] == "VPN drops every 5 minutes"
    assert body["description"].startswith("Since Monday, on home wifi")
    assert "Employee: my vpn keeps dropping" in body["description"]
    assert (body["type"], body["urgency"], body["impact"]) == ("incident", 1, 3)
    assert (body["source_type"], body["source_reference"]) == ("CHATBOT", CONVERSATION)
    assert body["integration_metadata"] == {"intent": "vpn_problem", "confidence": 0.93}
    assert "INC-000042" in texts(messages)
    assert {e["name"]: e["value"] for e in events} == {
        "summary": None, "description": None, "urgency": None, "confirm_ticket": None}


def test_idempotency_key_is_stable_per_turn(fake_api):
    fake_api.on("POST", "/api/v1/tickets", 201, TICKET)

    run(ActionOpenTicket(), confirmed_ticket_tracker("m3"))
    run(ActionOpenTicket(), confirmed_ticket_tracker("m3"))  # a retry of the same turn
    run(ActionOpenTicket(), confirmed_ticket_tracker("m9"))  # a later turn

    keys = [r.headers["idempotency-key"] for r in fake_api.requests]
    assert keys == [f"{CONVERSATION}:m3", f"{CONVERSATION}:m3", f"{CONVERSATION}:m9"]


def test_api_error_becomes_a_friendly_message_and_a_log_line(fake_api, caplog):
    fake_api.problem("POST", "/api/v1/tickets", 500, "Internal Server Error",
                     detail="psycopg.errors.UndefinedTable: relation tickets")

    with caplog.at_level(logging.WARNING):
        events, messages = run(ActionOpenTicket(), confirmed_ticket_tracker())

    assert texts(messages) == replies.UNAVAILABLE
    assert "psycopg" not in texts(messages)
    assert any("status=500" in r.getMessage() for r in caplog.records)
    assert all(e["value"] is None for e in events)  # the form is reset either way


def test_validation_error_is_not_shown_raw(fake_api):
    fake_api.problem("POST", "/api/v1/tickets", 422, "Unprocessable Entity",
                     detail="body.urgency: value is not a valid integer")

    _, messages = run(ActionOpenTicket(), confirmed_ticket_tracker())

    assert texts(messages) == replies.FAILED


def test_unreachable_api_gives_a_friendly_message(monkeypatch):
    monkeypatch.setenv("DESKMATE_API_URL", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("DESKMATE_SERVICE_TOKEN", "x")

    _, messages = run(ActionOpenTicket(), confirmed_ticket_tracker())

    assert texts(messages) == replies.UNAVAILABLE


def test_anonymous_users_cannot_open_tickets(fake_api):
    _, messages = run(ActionOpenTicket(), confirmed_ticket_tracker(metadata={}))

    assert fake_api.requests == []
    assert texts(messages) == replies.SIGN_IN_FIRST


def test_employee_email_comes_from_the_session_start_metadata(fake_api):
    fake_api.on("POST", "/api/v1/tickets", 201, TICKET)
    events = [{"event": "session_started",
               "metadata": {"employee_email": EMAIL, "conversation_id": CONVERSATION}},
              user("yes", "affirm", metadata={})]
    t = tracker(events, {"summary": "Screen is black", "description": "Since today",
                         "urgency": "low", "confirm_ticket": True})

    run(ActionOpenTicket(), t)

    [req] = fake_api.requests
    assert req.headers["x-on-behalf-of"] == EMAIL
    assert req.body["urgency"] == 3


def test_declined_confirmation_opens_nothing(fake_api):
    t = confirmed_ticket_tracker()
    t.slots["confirm_ticket"] = False

    _, messages = run(ActionOpenTicket(), t)

    assert fake_api.requests == []
    assert "didn't open" in texts(messages)


# --- status, comments, cancellation -------------------------------------------------
def test_status_of_the_last_ticket_lists_mine_newest_first(fake_api):
    fake_api.on("GET", "/api/v1/tickets", 200, {"items": [TICKET], "next_cursor": None})
    t = tracker([user("status of my last ticket", "ticket_status")], {"ticket_number": "last"})

    events, messages = run(ActionCheckTicketStatus(), t)

    [req] = fake_api.requests
    assert req.query == {"requester": ["me"], "limit": ["1"]}
    assert req.headers["x-on-behalf-of"] == EMAIL
    assert texts(messages) == 'INC-000042 "VPN drops" is in progress (priority P3).'
    assert {"event": "slot", "name": "ticket_number", "value": None, "timestamp": None} in events


def test_status_when_the_user_has_no_ticket(fake_api):
    fake_api.on("GET", "/api/v1/tickets", 200, {"items": [], "next_cursor": None})
    t = tracker([user("status of my last ticket", "ticket_status")], {"ticket_number": "last"})

    _, messages = run(ActionCheckTicketStatus(), t)

    assert texts(messages) == "You don't have any tickets yet."


def test_forbidden_and_missing_tickets_look_the_same(fake_api):
    fake_api.problem("GET", "/api/v1/tickets/INC-000099", 404, "Not Found")
    fake_api.problem("GET", "/api/v1/tickets/INC-000100", 403, "Forbidden")

    answers = []
    for number in ("INC-000099", "INC-000100"):
        t = tracker([user(f"status of {number}", "ticket_status")], {"ticket_number": number})
        answers.append(texts(run(ActionCheckTicketStatus(), t)[1]))

    assert answers[0] == answers[1].replace("INC-000100", "INC-000099")
    assert "couldn't find INC-000099" in answers[0]


def test_update_adds_a_public_comment(fake_api):
    fake_api.on("GET", "/api/v1/tickets/INC-000042", 200, TICKET)
    fake_api.on("POST", "/api/v1/tickets/42/comments", 201, {"id": 1})
    t = tracker([user("it happens on wifi too", "inform")],
                {"ticket_number": "INC-000042", "comment": "It happens on wifi too"})

    _, messages = run(ActionUpdateTicket(), t)

    assert [r.path for r in fake_api.requests] == [
        "/api/v1/tickets/INC-000042", "/api/v1/tickets/42/comments"]
    assert fake_api.requests[1].body == {"body": "It happens on wifi too", "internal": False}
    assert texts(messages) == "I've added your comment to INC-000042."


def test_cancel_transitions_to_cancelled(fake_api):
    fake_api.on("GET", "/api/v1/tickets/INC-000042", 200, TICKET)
    fake_api.on("POST", "/api/v1/tickets/42/transition", 200, {**TICKET, "status": "cancelled"})
    t = tracker([user("yes", "affirm")], {"ticket_number": "INC-000042", "confirm_cancel": True})

    _, messages = run(ActionCancelTicket(), t)

    assert fake_api.requests[1].body["status"] == "cancelled"
    assert fake_api.requests[1].body["reason"]
    assert texts(messages) == "INC-000042 is cancelled."


def test_cancel_refused_by_the_workflow(fake_api):
    fake_api.on("GET", "/api/v1/tickets/INC-000042", 200, TICKET)
    fake_api.problem("POST", "/api/v1/tickets/42/transition", 409, "Conflict",
                     detail="transition closed -> cancelled not allowed")
    t = tracker([user("yes", "affirm")], {"ticket_number": "INC-000042", "confirm_cancel": True})

    _, messages = run(ActionCancelTicket(), t)

    assert "can't be cancelled any more" in texts(messages)
    assert "transition" not in texts(messages)


def test_cancel_not_confirmed_keeps_the_ticket(fake_api):
    t = tracker([user("no", "deny")], {"ticket_number": "INC-000042", "confirm_cancel": False})

    _, messages = run(ActionCancelTicket(), t)

    assert fake_api.requests == []
    assert "left the ticket" in texts(messages)


# --- hand-off ---------------------------------------------------------------------------
def test_handoff_uses_the_chat_escalation_endpoint(fake_api):
    fake_api.on("POST", f"/api/v1/chat/conversations/{CONVERSATION}/escalate", 201,
                {"ticket": TICKET})
    t = tracker([user("my printer is jammed", "printer_problem", message_id="m1"),
                 user("get me a human", "human_handoff", message_id="m2")])

    events, messages = run(ActionEscalateConversation(), t)

    [req] = fake_api.requests
    assert req.body["summary"] == "Chat hand-off: my printer is jammed"
    assert req.body["reason"] == "The employee asked for a person."
    assert req.headers["idempotency-key"] == f"{CONVERSATION}:m2"
    assert "INC-000042" in texts(messages)
    assert {e["name"] for e in events} >= {"requested_slot", "summary", "ticket_number"}


def test_handoff_falls_back_to_a_ticket_when_escalation_is_missing(fake_api):
    fake_api.on("POST", "/api/v1/tickets", 201, TICKET)  # escalate route answers 404
    t = tracker([user("my printer is jammed", "printer_problem", message_id="m1"),
                 user("get me a human", "human_handoff", message_id="m2")])

    _, messages = run(ActionEscalateConversation(), t)

    assert [r.path for r in fake_api.requests] == [
        f"/api/v1/chat/conversations/{CONVERSATION}/escalate", "/api/v1/tickets"]
    body = fake_api.requests[1].body
    assert body["title"] == "Chat hand-off: my printer is jammed"
    assert "Employee: get me a human" in body["description"]
    assert "INC-000042" in texts(messages)


def test_handoff_without_conversation_id_creates_a_ticket(fake_api):
    fake_api.on("POST", "/api/v1/tickets", 201, TICKET)
    t = tracker([user("human please", "human_handoff", metadata={"employee_email": EMAIL})])

    run(ActionEscalateConversation(), t)

    [req] = fake_api.requests
    assert req.path == "/api/v1/tickets"
    assert req.body["source_reference"] == "sender-1"


# --- requests -----------------------------------------------------------------------------
def test_software_request_is_a_request_ticket(fake_api):
    fake_api.on("POST", "/api/v1/tickets", 201, {**TICKET, "number": "REQ-000007"})
    t = tracker([user("i need visio", "software_request",
                      entities=[{"entity": "software", "value": "visio"}]),
                 user("for process diagrams", "inform", message_id="m2")],
                {"software": "visio", "reason": "for process diagrams"})

    events, messages = run(ActionRequestSoftware(), t)

    body = fake_api.requests[0].body
    assert (body["type"], body["title"]) == ("request", "Software request: visio")
    assert "for process diagrams" in body["description"]
    assert body["integration_metadata"]["entities"] == {"software": ["visio"]}
    assert "REQ-000007" in texts(messages)
    assert {e["name"] for e in events} == {"software", "reason"}


def test_access_request_title_names_the_resource(fake_api):
    fake_api.on("POST", "/api/v1/tickets", 201, TICKET)
    t = tracker([user("i need vpn access", "vpn_access_request")],
                {"resource": "VPN", "reason": "working from home"})

    run(ActionRequestAccess(), t)

    assert fake_api.requests[0].body["title"] == "Access request: VPN"


# --- knowledge ------------------------------------------------------------------------------
def test_confident_answer_with_citations(fake_api):
    fake_api.on("POST", "/api/v1/kb/answer", 200, {
        "answer": "Open Outlook settings.\n\nChoose Signatures.", "confident": True, "answer_id": 77,
        "citations": [{"n": 1, "title": "Email signatures", "url": "/kb/12", "article_id": "kb-sig"}]})
    t = tracker([user("how do i add a signature", "ask_question")])

    _, messages = run(ActionAnswerQuestion(), t)

    assert fake_api.requests[0].body == {"question": "how do i add a signature"}
    assert messages[0]["text"] == "Open Outlook settings.\nChoose Signatures."
    assert messages[0]["custom"] == {"citations": [{"n": 1, "title": "Email signatures", "url": "/kb/12"}]}
    assert messages[0]["buttons"] == [{"title": "That solved it", "payload": "deskmate:kb_helpful:77"},
                                      {"title": "Open a ticket", "payload": "deskmate:open_ticket"}]


def test_button_payload_searches_the_previous_question(fake_api):
    fake_api.on("POST", "/api/v1/kb/answer", 200, {"answer": "", "confident": False,
                                                   "citations": []})
    t = tracker([user("blorp the frobnicator", "nlu_fallback", message_id="m1"),
                 user("/ask_question", "ask_question", message_id="m2")])

    _, messages = run(ActionAnswerQuestion(), t)

    assert fake_api.requests[0].body == {"question": "blorp the frobnicator"}
    assert knowledge.NOT_FOUND in texts(messages)
    assert messages[-1]["buttons"] == replies.OFFER_BUTTONS


def test_unsure_answer_offers_a_ticket(fake_api):
    fake_api.on("POST", "/api/v1/kb/answer", 200, {"answer": "Maybe restart.",
                                                   "confident": False, "citations": []})
    _, messages = run(ActionAnswerQuestion(), tracker([user("why is it so", "ask_question")]))

    assert messages[0]["text"].startswith(knowledge.UNSURE)
    assert messages[-1]["buttons"] == [{"title": "Open a ticket", "payload": "deskmate:open_ticket"}]


def test_knowledge_base_down_offers_a_ticket(fake_api):
    fake_api.problem("POST", "/api/v1/kb/answer", 503, "Service Unavailable")

    _, messages = run(ActionAnswerQuestion(), tracker([user("what is mfa", "ask_question")]))

    assert texts(messages).startswith(knowledge.KB_DOWN)
    assert messages[0]["buttons"] == replies.OFFER_BUTTONS


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


def test_invalid_urgency_is_asked_again():
    dispatcher = CollectingDispatcher()
    t = tracker([user("purple", "inform")])

    slots = forms.ValidateOpenTicketForm().validate_urgency("purple", dispatcher, t, DOMAIN)

    assert slots == {"urgency": None}
    assert dispatcher.messages[0]["response"] == "utter_invalid_urgency"


def test_my_last_ticket_fills_the_ticket_number():
    t = tracker([user("the most recent one", "inform")], {"requested_slot": "ticket_number"})

    slots = asyncio.run(forms.ValidateTicketStatusForm().extract_ticket_number(
        CollectingDispatcher(), t, DOMAIN))

    assert slots == {"ticket_number": "last"}


def test_stopped_form_is_discarded():
    dispatcher = CollectingDispatcher()
    events = forms.ActionDiscardForm().run(dispatcher, tracker([user("stop", "stop")]), DOMAIN)

    assert {e["name"] for e in events} == {
        "requested_slot", "summary", "description", "urgency", "confirm_ticket", "ticket_number"}
    assert all(e["value"] is None for e in events)
    assert dispatcher.messages[0]["response"] == "utter_form_stopped"
