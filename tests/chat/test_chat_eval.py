"""End-to-end answer evaluation (api/chat/chat_eval.py): the question set, the reply classifier on recorded turn
shapes, the report, and the widget client against the real app (with the fake Rasa channel)."""

from __future__ import annotations

import textwrap
from collections import Counter

import httpx
import pytest

import kb_index
from api.chat import chat_eval
from api.chat.chat_eval import Articles, Question, ReplyBook, Result, Verdict, WidgetClient, classify
from api.chat.identity import sign_identity
from api.chat.nlu_eval import load_examples, split_of
from api.chat.service import RESTARTING
from api.settings import REPO_ROOT

QUESTIONS = REPO_ROOT / "data" / "eval" / "kb_chat.yml"
ARTICLES = Articles.from_dir(REPO_ROOT / "data" / "kb")
BOOK = ReplyBook.from_domain(REPO_ROOT / "bot" / "domain.yml")
PRINTER = frozenset({"kb-printer-add"})


def _bot(text: str, *, buttons: list[dict] | None = None, citations: list[dict] | None = None) -> dict:
    """A bot message as POST …/messages returns it."""
    return {"id": 1, "direction": "bot", "text": text, "buttons": buttons or [], "links": [],
            "citations": citations or [], "intent": None, "confidence": None, "ticket_number": None,
            "created_at": "2026-12-07T02:10:00Z"}


def _turn(*messages: dict, intent: str | None, confidence: float | None = 0.9) -> dict:
    return {"messages": list(messages), "intent": intent, "confidence": confidence}


def _verdict(turn: dict | None, expected: frozenset[str] = PRINTER, error: str | None = None) -> Verdict:
    return classify(turn, expected, articles=ARTICLES, book=BOOK, error=error)


# Turn shapes as the running stack returns them (recorded from the dev stack, ids and times replaced).
KB_ANSWER = _turn(_bot(
    "**Add a printer and use secure Follow-Me printing** (Add the printer > Windows 11)\n> 1. Open **Software "
    "Center**. 2. Search for **PaperCut Secure Print** and select **Install**.",
    buttons=[{"title": "That solved it", "payload": "deskmate:kb_helpful:17"},
             {"title": "Open a ticket", "payload": "deskmate:open_ticket"}],
    citations=[{"n": 1, "title": "Add a printer and use secure Follow-Me printing",
                "url": "https://intranet.example.com/kb/kb-printer-add"}]), intent="ask_question", confidence=0.81)
HEDGED_OTHER = _turn(_bot(
    "This is the closest I found, but I'm not sure it answers your question:\n**Print job stuck in the queue** …",
    buttons=[{"title": "Open a ticket", "payload": "deskmate:open_ticket"}],
    citations=[{"n": 1, "title": "Print job stuck in the queue", "url": "https://intranet.example.com/kb/kb-print-queue-stuck"},
               {"n": 2, "title": "Add a printer and use secure Follow-Me printing",
                "url": "http://127.0.0.1:8000/api/v1/kb/articles/kb-printer-add"}]), intent="ask_question")
CANNED = _turn(
    _bot("For printers: check paper, toner and the printer's display for errors, clear stuck jobs from the print "
         "queue, and try printing to another printer on the same floor. Paper jams are cleared via the panels shown "
         "on the printer's screen."),
    _bot("If that doesn't solve it, I can open a ticket for you. Shall I?",
         buttons=[{"title": "Yes, open a ticket", "payload": "/affirm"}, {"title": "No, thanks", "payload": "/deny"}]),
    intent="printer_problem", confidence=0.97)
OUT_OF_SCOPE = _turn(_bot("Sorry, I can only help with IT topics: accounts, devices, software, access and your "
                          "tickets."), intent="out_of_scope", confidence=0.88)
REPHRASE = _turn(_bot("Sorry, I didn't quite get that. Could you say it in other words? Or I can hand it to the "
                      "service desk:", buttons=[{"title": "Open a ticket", "payload": "/open_ticket"},
                                                {"title": "Talk to a person", "payload": "/human_handoff"}]),
                 intent="nlu_fallback", confidence=0.41)
NOT_FOUND = _turn(_bot("I couldn't find an answer to that in the knowledge base. I can open a ticket or get you a "
                       "person instead.", buttons=[{"title": "Open a ticket", "payload": "/open_ticket"},
                                                   {"title": "Talk to a person", "payload": "/human_handoff"}]),
                  intent="ask_question", confidence=0.66)
RASA_DOWN = _turn(_bot(RESTARTING, buttons=[{"title": "Open a ticket", "payload": "deskmate:open_ticket"}]),
                  intent=None, confidence=None)
FORM_QUESTION = _turn(_bot("Which software do you need?"), intent="software_request", confidence=0.93)


@pytest.mark.parametrize(("turn", "outcome"), [
    (KB_ANSWER, "cited_right"), (HEDGED_OTHER, "cited_right"), (CANNED, "canned"), (OUT_OF_SCOPE, "refused"),
    (REPHRASE, "fallback"), (NOT_FOUND, "no_answer"), (RASA_DOWN, "error"), (FORM_QUESTION, "canned"),
])
def test_recorded_turns_are_classified(turn, outcome):
    assert _verdict(turn).outcome == outcome


def test_a_citation_of_another_article_is_cited_other_and_first_right_needs_the_first():
    answer = _verdict(KB_ANSWER, frozenset({"kb-vpn-setup"}))
    assert (answer.outcome, answer.cited) == ("cited_other", ["kb-printer-add"])
    hedged = _verdict(HEDGED_OTHER)
    assert hedged.cited == ["kb-print-queue-stuck", "kb-printer-add"]  # the API address names the article too
    assert hedged.hedged and not chat_eval.first_cited_right(hedged, PRINTER)
    assert chat_eval.first_cited_right(_verdict(KB_ANSWER), PRINTER) and not _verdict(KB_ANSWER).hedged


def test_the_reply_text_decides_before_the_intent():
    # An out-of-scope intent whose reply is the rephrase text is what the user sees: a fallback.
    assert _verdict(_turn(*REPHRASE["messages"], intent="out_of_scope")).outcome == "fallback"
    # The second fallback in a row (buttons) and utter_default are fallbacks too, whatever the intent.
    options = _bot("I still didn't understand, sorry. How would you like to go on?",
                   buttons=[{"title": "Search the knowledge base", "payload": "/ask_question"}])
    assert _verdict(_turn(options, intent="greet")).outcome == "fallback"
    # A reply text we don't know falls back on the intent.
    unknown = _bot("Something new the lead wrote.")
    assert _verdict(_turn(unknown, intent="out_of_scope")).outcome == "refused"
    assert _verdict(_turn(unknown, intent="nlu_fallback")).outcome == "fallback"
    assert _verdict(_turn(unknown, intent="vpn_problem")).outcome == "canned"


def test_citations_win_over_refusal_texts_and_failures_are_errors():
    cited_refusal = _turn(*OUT_OF_SCOPE["messages"], *KB_ANSWER["messages"], intent="out_of_scope")
    assert _verdict(cited_refusal).outcome == "cited_right"
    assert _verdict(None, error="ConnectError: refused").outcome == "error"
    assert _verdict(_turn(intent="ask_question")).outcome == "error"  # no bot message at all
    handoff = _turn({**_bot("I've passed our conversation to the service desk team as INC-000001. A person will get "
                            "back to you as soon as possible."), "ticket_number": "INC-000001"}, intent="human_handoff")
    assert (_verdict(handoff).outcome, _verdict(handoff).ticket) == ("canned", "INC-000001")
    failed = _turn(_bot("Sorry, that didn't work on the service desk side. Please try again later."),
                   intent="human_handoff")
    assert _verdict(failed).outcome == "error"


def test_articles_resolve_citations_by_url_api_address_and_title():
    assert ARTICLES.resolve({"url": "https://intranet.example.com/kb/kb-vpn-setup", "title": "x"}) == "kb-vpn-setup"
    assert ARTICLES.resolve({"url": "https://deskmate.example.com/api/v1/kb/articles/kb-disk-full/"}) == "kb-disk-full"
    assert ARTICLES.resolve({"url": None, "title": "Request VPN access"}) == "kb-vpn-access-request"
    assert ARTICLES.resolve({"url": "https://wiki.example.com/other", "title": "Other"}) == "https://wiki.example.com/other"


def test_the_reply_book_comes_from_the_domain(tmp_path):
    assert any("only help with it topics" in t for t in BOOK.refused)
    assert any("didn't quite get that" in t for t in BOOK.fallback) and len(BOOK.fallback) >= 3
    domain = tmp_path / "domain.yml"
    domain.write_text(textwrap.dedent("""\
        responses:
          utter_out_of_scope:
            - text: "That's not **IT**, sorry."
            - text: "Not my department."
          utter_ask_rephrase:
            - text: "Say again?"
        """))
    book = ReplyBook.from_domain(domain)
    assert book.refused == ("that's not it , sorry.", "not my department.") and book.fallback == ("say again?",)
    assert classify(_turn(_bot("Not my department."), intent="greet"), PRINTER, articles=ARTICLES,
                    book=book).outcome == "refused"


def test_the_question_set_is_labelled_with_employee_articles_and_split_by_hash():
    questions = chat_eval.load_questions(QUESTIONS)
    articles = {a.id: a for a in kb_index.load_dir(REPO_ROOT / "data" / "kb")}
    assert len(questions) >= 120
    for q in questions:
        assert q.articles and q.articles <= set(articles), q.text
        assert all(articles[a].audience == "employee" for a in q.articles), q.text
        assert q.split == split_of(q.text)
    covered = set().union(*(q.articles for q in questions))
    assert {a for a, art in articles.items() if art.audience == "employee"} <= covered
    splits = Counter(q.split for q in questions)
    assert 0.2 < splits["test"] / len(questions) < 0.4
    assert chat_eval.load_questions(QUESTIONS, split="test") == [q for q in questions if q.split == "test"]


def test_no_question_is_a_training_example():
    training = {e.text.lower() for path in (REPO_ROOT / "data" / "nlu").glob("*.yml") for e in load_examples(path)}
    assert not [q.text for q in chat_eval.load_questions(QUESTIONS) if q.text.lower() in training]


def test_bad_question_files_are_refused(tmp_path):
    path = tmp_path / "q.yml"
    path.write_text("cases:\n- examples: |\n    - how do I print\n")
    with pytest.raises(ValueError, match="articles"):
        chat_eval.load_questions(path)
    path.write_text("cases:\n- articles: [a]\n  examples: |\n    - how do I print\n    - How do I print\n")
    with pytest.raises(ValueError, match="duplicate"):
        chat_eval.load_questions(path)


def test_spread_takes_evenly_spaced_questions():
    questions = [Question(str(i), frozenset({"a"}), "dev") for i in range(10)]
    assert [q.text for q in chat_eval.spread(questions, 3)] == ["0", "3", "6"]
    assert chat_eval.spread(questions, None) == questions and chat_eval.spread(questions, 50) == questions


def test_the_report_counts_outcomes_per_split():
    def result(split: str, outcome: str, cited: list[str], intent: str) -> Result:
        return Result(Question(f"q{split}{outcome}{intent}", PRINTER, split), Verdict(outcome, cited, intent), 5.0)

    results = [result("dev", "cited_right", ["kb-printer-add"], "ask_question"),
               result("dev", "canned", [], "printer_problem"),
               result("test", "cited_right", ["kb-print-queue-stuck", "kb-printer-add"], "ask_question"),
               result("test", "refused", [], "out_of_scope")]
    summaries = chat_eval.by_split(results)
    assert list(summaries) == ["all", "dev", "test"]
    assert summaries["all"]["counts"]["cited_right"] == 2 and summaries["all"]["shares"]["cited_right"] == 0.5
    assert summaries["all"]["first_cited_right"] == 0.25
    assert summaries["test"]["counts"] == {"cited_right": 1, "cited_other": 0, "refused": 1, "canned": 0,
                                           "fallback": 0, "no_answer": 0, "error": 0}
    assert summaries["all"]["intents"] == {"refused": [("out_of_scope", 1)], "canned": [("printer_problem", 1)]}
    text = chat_eval.table(summaries)
    assert "cited right*" in text and "0.500 (2)" in text and text.count("\n") == 6
    assert "printer_problem 1" in chat_eval.intent_lines(summaries["all"])
    assert chat_eval.report(results)["questions"][3]["outcome"] == "refused"


# ---------- the widget client against the real app (its Rasa is the fake channel) ----------

@pytest.fixture
async def widget(running_app, settings):
    """A WidgetClient that talks to the real app in-process, signed in as a demo employee."""
    client = WidgetClient("http://test", identity=lambda: sign_identity(settings, "jordan.blake@example.com"),
                          transport=httpx.ASGITransport(app=running_app[1]))
    yield client
    await client.aclose()


async def test_a_kb_answer_through_the_real_gateway_is_cited_right(widget, rasa):
    rasa.intent = {"name": "ask_question", "confidence": 0.8}
    rasa.replies = [{"text": "Open Software Center and install PaperCut Secure Print.",
                     "buttons": [{"title": "Open a ticket", "payload": "deskmate:open_ticket"}]},
                    {"custom": {"citations": [{"n": 1, "title": "Add a printer and use secure Follow-Me printing",
                                               "url": "https://intranet.example.com/kb/kb-printer-add"}]}}]
    questions = [Question("how do I add the follow-me printer", PRINTER, "dev"),
                 Question("how do I connect to the vpn", frozenset({"kb-vpn-setup"}), "test")]

    results = await chat_eval.run(questions, widget, articles=ARTICLES, book=BOOK, concurrency=2)

    assert [r.verdict.outcome for r in results] == ["cited_right", "cited_other"]
    assert [r.question.text for r in results] == [q.text for q in questions]
    # Each question had its own fresh conversation.
    assert len({body["sender"] for body in rasa.received[-2:]}) == 2
    assert {body["message"] for body in rasa.received[-2:]} == {q.text for q in questions}


async def test_rasa_down_is_an_error_outcome(widget, rasa):
    rasa.down = True
    [result] = await chat_eval.run([Question("how do I add a printer", PRINTER, "dev")], widget, articles=ARTICLES,
                                   book=BOOK)
    assert result.verdict.outcome == "error" and "restarting" in result.verdict.reply


async def test_an_identity_the_api_refuses_stops_the_run(running_app, rasa):
    bad = WidgetClient("http://test", identity=lambda: "not-a-jwt", transport=httpx.ASGITransport(app=running_app[1]))
    try:
        with pytest.raises(chat_eval.StackRefused, match="HTTP 401"):
            await chat_eval.run([Question("how do I add a printer", PRINTER, "dev")], bad, articles=ARTICLES,
                                book=BOOK)
    finally:
        await bad.aclose()
