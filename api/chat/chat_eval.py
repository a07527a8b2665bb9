"""End-to-end answer evaluation: real questions whose answer is in the KB, asked in fresh widget conversations.

Used by ``deskmate eval chat`` (issue #10: "a real question whose answer is in the KB is answered citing that
article", target >= 0.80). It talks to a running stack only through the widget's public HTTP API
(``POST /api/v1/chat/conversations``, then ``POST …/{id}/messages``), like a browser would, and classifies the
bot's turn by what the employee sees:

- ``cited_right``: a citation names one of the articles that answer the question;
- ``cited_other``: citations, none of them a right article;
- ``refused``: the "I can only help with IT topics" reply (or, for a reply we can't place, intent out_of_scope);
- ``fallback``: "didn't get that" / rephrase / "not sure how to continue" (or intent nlu_fallback);
- ``no_answer``: the knowledge action searched and found nothing;
- ``canned``: any other reply without sources (a fixed intent paragraph, a form's first question…);
- ``error``: the request failed, or the gateway or the bot said it could not do its part.

Reply texts are matched against the bot's own responses (bot/domain.yml), so rewording a response does not break
the classifier; the detected intent decides only for a reply that matches none of them.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import httpx
import typer
import yaml

import kb_index
from api.chat.nlu_eval import FALLBACK, example_lines, refuse_duplicates, split_of
from api.chat.service import RESTARTING, SLOW

OUTCOMES = ("cited_right", "cited_other", "refused", "canned", "fallback", "no_answer", "error")
TITLES = {"cited_right": "cited right", "cited_other": "cited other", "refused": "refused", "canned": "canned",
          "fallback": "fallback", "no_answer": "no KB answer", "error": "error"}
TARGET = ("cited_right", 0.80)
SPLITS = ("dev", "test", "all")

# Responses of bot/domain.yml by outcome.
REFUSED_RESPONSES = ("utter_out_of_scope",)
FALLBACK_RESPONSES = ("utter_ask_rephrase", "utter_fallback_options", "utter_default")
# Replies of the knowledge action (actions/knowledge.py: NOT_FOUND, NO_QUESTION; UNSURE) and failure replies of the
# actions (actions/knowledge.py KB_DOWN, actions/replies.py UNAVAILABLE, FAILED) and of the gateway.
NO_ANSWER_TEXTS = ("I couldn't find an answer to that in the knowledge base.",
                   "What would you like to know? Ask me in a sentence and I'll search the knowledge base.")
HEDGED_TEXTS = ("This is the closest I found, but I'm not sure it answers your question",)
ERROR_TEXTS = (RESTARTING, SLOW, "Sorry, I can't search the knowledge base right now.",
               "Sorry, I can't reach the service desk system right now.",
               "Sorry, that didn't work on the service desk side.")


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[*_`>]", " ", text).lower().split())


# ---------- the questions ----------

@dataclass(frozen=True)
class Question:
    text: str
    articles: frozenset[str]
    split: str


def load_questions(path: Path, *, split: str | None = None) -> list[Question]:
    """The questions of ``path`` (``cases:`` of ``articles:`` + ``examples:``), each with its hash split;
    ``split`` ("dev" or "test") keeps one part only."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    questions: list[Question] = []
    for block in data.get("cases") or []:
        articles = block.get("articles")
        if not isinstance(articles, list) or not articles:
            raise ValueError(f"{path}: every case names its articles (a list of article ids)")
        questions += [Question(text, frozenset(str(a) for a in articles), split_of(text))
                      for text in example_lines(block)]
    refuse_duplicates([q.text for q in questions], f"{path}: duplicate question")
    return [q for q in questions if split is None or q.split == split]


def spread(questions: Sequence[Question], limit: int | None) -> list[Question]:
    """At most ``limit`` questions, evenly spaced over the list (so over the articles, not the first few)."""
    if not limit or limit >= len(questions):
        return list(questions)
    step = len(questions) / limit
    return [questions[int(i * step)] for i in range(limit)]


# ---------- classifying one turn ----------

@dataclass(frozen=True)
class Articles:
    """The KB's articles as the classifier needs them: a citation (url, title) → article id."""

    ids: frozenset[str]
    by_title: dict[str, str] = field(default_factory=dict)
    by_url: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_dir(cls, kb_dir: Path) -> Articles:
        articles = kb_index.load_dir(kb_dir)
        return cls(frozenset(a.id for a in articles), {_norm(a.title): a.id for a in articles},
                   {a.url.rstrip("/"): a.id for a in articles if a.url})

    def resolve(self, citation: dict[str, Any]) -> str:
        """The article a citation names: by its URL (the article's own, or ``…/kb/articles/<id>``), else by its
        title; an unknown citation is named by its URL or title."""
        url = str(citation.get("url") or "").rstrip("/")
        if url in self.by_url:
            return self.by_url[url]
        segment = urlsplit(url).path.rsplit("/", 1)[-1]
        if segment in self.ids:
            return segment
        title = str(citation.get("title") or "")
        return self.by_title.get(_norm(title)) or url or title or "?"


@dataclass(frozen=True)
class ReplyBook:
    """The bot's reply texts that mark an outcome (normalised)."""

    refused: tuple[str, ...] = ()
    fallback: tuple[str, ...] = ()
    no_answer: tuple[str, ...] = tuple(_norm(t) for t in NO_ANSWER_TEXTS)
    hedged: tuple[str, ...] = tuple(_norm(t) for t in HEDGED_TEXTS)
    error: tuple[str, ...] = tuple(_norm(t) for t in ERROR_TEXTS)

    @classmethod
    def from_domain(cls, domain: Path) -> ReplyBook:
        """The refusal and fallback texts of a Rasa domain (every variant of the responses that mean them)."""
        responses = (yaml.safe_load(domain.read_text(encoding="utf-8")) or {}).get("responses") or {}

        def texts(names: Sequence[str]) -> tuple[str, ...]:
            return tuple(_norm(str(v["text"])) for n in names for v in responses.get(n) or [] if v.get("text"))

        return cls(refused=texts(REFUSED_RESPONSES), fallback=texts(FALLBACK_RESPONSES))


@dataclass
class Verdict:
    outcome: str
    cited: list[str] = field(default_factory=list)
    intent: str | None = None
    confidence: float | None = None
    hedged: bool = False
    reply: str = ""
    ticket: str | None = None  # a ticket the turn opened (a hand-off, a form that submitted)


def _says(texts: list[str], markers: tuple[str, ...]) -> bool:
    return any(marker and marker in text for text in texts for marker in markers)


def classify(turn: dict[str, Any] | None, expected: frozenset[str], *, articles: Articles, book: ReplyBook,
             error: str | None = None) -> Verdict:
    """The outcome of one turn (the JSON of ``POST …/messages``) for a question that ``expected`` articles answer.

    ``error`` (or no turn) means the request itself failed.
    """
    if error is not None or turn is None:
        return Verdict("error", reply=error or "no reply")
    messages = [m for m in turn.get("messages") or [] if m.get("direction", "bot") == "bot"]
    intent, confidence = turn.get("intent"), turn.get("confidence")
    reply = "\n".join(str(m.get("text") or "") for m in messages).strip()
    texts = [_norm(str(m.get("text") or "")) for m in messages]
    cited = list(dict.fromkeys(articles.resolve(c) for m in messages for c in m.get("citations") or []))
    hedged = _says(texts, book.hedged)
    ticket = next((str(m["ticket_number"]) for m in messages if m.get("ticket_number")), None)

    def verdict(outcome: str) -> Verdict:
        return Verdict(outcome, cited, intent, confidence, hedged, reply, ticket)

    if cited:
        return verdict("cited_right" if expected & set(cited) else "cited_other")
    for outcome, markers in (("error", book.error), ("refused", book.refused), ("fallback", book.fallback),
                             ("no_answer", book.no_answer)):
        if _says(texts, markers):
            return verdict(outcome)
    if not messages:
        return Verdict("error", intent=intent, confidence=confidence, reply="(the turn had no bot message)")
    if intent == "out_of_scope":
        return verdict("refused")
    if intent == FALLBACK:
        return verdict("fallback")
    return verdict("canned")


def first_cited_right(verdict: Verdict, expected: frozenset[str]) -> bool:
    """The first citation of the reply is a right article."""
    return bool(verdict.cited) and verdict.cited[0] in expected


# ---------- asking the running stack ----------

class StackRefused(Exception):
    """The stack refused to start a conversation for a reason retrying won't fix (bad identity, wrong URL…)."""


class WidgetClient:
    """Talks to a running api as the web widget does: start a conversation, send one message.

    ``identity`` returns the signed identity for each new conversation (None: anonymous).
    """

    def __init__(self, base_url: str, *, identity: Callable[[], str | None] = lambda: None, timeout_s: float = 60.0,
                 max_waits: int = 6, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.identity = identity
        self.max_waits = max_waits
        self._http = httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout_s, transport=transport)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _post(self, path: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> httpx.Response:
        """POST, waiting out 429s (their Retry-After, at most ``max_waits`` times)."""
        for _ in range(self.max_waits):
            response = await self._http.post(path, json=body, headers=headers)
            if response.status_code != 429:
                return response
            await asyncio.sleep(min(60.0, float(response.headers.get("Retry-After") or 1)))
        return response

    async def start(self) -> tuple[str, dict[str, str]]:
        """A fresh conversation: its id and the session header; StackRefused when the api refuses (4xx)."""
        identity = self.identity()
        response = await self._post("/api/v1/chat/conversations", {"identity": identity} if identity else {})
        if 400 <= response.status_code < 500:
            raise StackRefused(f"starting a conversation: HTTP {response.status_code} {_detail(response)}")
        if response.status_code != 201:
            raise httpx.HTTPStatusError(f"starting a conversation: HTTP {response.status_code} {_detail(response)}",
                                        request=response.request, response=response)
        started = response.json()
        return started["conversation_id"], {"X-Chat-Session": started["session_token"]}

    async def ask(self, text: str) -> dict[str, Any]:
        """Asks ``text`` in a fresh conversation and returns the turn (messages, intent, confidence)."""
        conversation_id, headers = await self.start()
        response = await self._post(f"/api/v1/chat/conversations/{conversation_id}/messages", {"text": text},
                                    headers)
        if response.status_code != 200:
            raise httpx.HTTPStatusError(f"HTTP {response.status_code} {_detail(response)}", request=response.request,
                                        response=response)
        return response.json()  # type: ignore[no-any-return]


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    return str(body.get("detail") or body.get("title") or body)[:200] if isinstance(body, dict) else str(body)[:200]


@dataclass
class Result:
    question: Question
    verdict: Verdict
    ms: float

    def as_dict(self) -> dict[str, Any]:
        v = self.verdict
        return {"text": self.question.text, "split": self.question.split, "expected": sorted(self.question.articles),
                "outcome": v.outcome, "cited": v.cited, "first_cited_right": first_cited_right(v, self.question.articles),
                "hedged": v.hedged, "ticket": v.ticket, "intent": v.intent, "confidence": v.confidence, "reply": v.reply[:500],
                "ms": self.ms}


async def run(questions: Sequence[Question], client: WidgetClient, *, articles: Articles, book: ReplyBook,
              concurrency: int = 4, progress: Callable[[], None] | None = None) -> list[Result]:
    """Asks every question (at most ``concurrency`` at once) and classifies the replies, in the questions' order.

    StackRefused (the api won't start conversations at all) stops the run; any other failure is that question's
    ``error`` outcome.
    """
    gate = asyncio.Semaphore(concurrency)

    async def one(question: Question) -> Result:
        async with gate:
            started = time.perf_counter()
            turn, error = None, None
            try:
                turn = await client.ask(question.text)
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
            ms = round((time.perf_counter() - started) * 1000, 1)
        if progress:
            progress()
        return Result(question, classify(turn, question.articles, articles=articles, book=book, error=error), ms)

    return list(await asyncio.gather(*(one(q) for q in questions)))


# ---------- the report ----------

def summarise(results: Sequence[Result]) -> dict[str, Any]:
    """Counts and shares per outcome, the share whose first citation is right, hedged answers, turns that opened a
    ticket, and the intents behind each wrong outcome."""
    n = len(results)
    counts = Counter(r.verdict.outcome for r in results)
    return {
        "n": n,
        "counts": {o: counts.get(o, 0) for o in OUTCOMES},
        "shares": {o: round(counts.get(o, 0) / n, 4) if n else None for o in OUTCOMES},
        "first_cited_right": round(sum(first_cited_right(r.verdict, r.question.articles) for r in results) / n, 4)
        if n else None,
        "hedged": sum(r.verdict.hedged for r in results),
        "tickets": sum(r.verdict.ticket is not None for r in results),
        "intents": {o: Counter(str(r.verdict.intent) for r in results if r.verdict.outcome == o).most_common(6)
                    for o in OUTCOMES if o != "cited_right" and counts.get(o)},
    }


def by_split(results: Sequence[Result]) -> dict[str, dict[str, Any]]:
    """The summaries of all, dev and test (a split without questions is left out)."""
    parts = {"all": list(results), "dev": [r for r in results if r.question.split == "dev"],
             "test": [r for r in results if r.question.split == "test"]}
    return {name: summarise(rows) for name, rows in parts.items() if rows}


def table(summaries: dict[str, dict[str, Any]]) -> str:
    """One text table: a row per split, a column per outcome (share and count)."""
    header = f"{'split':<6} {'n':>4} " + " ".join(f"{TITLES[o] + ('*' if o == TARGET[0] else ''):>13}"
                                                  for o in OUTCOMES) + f" {'first right':>12}"
    lines = [header, "-" * len(header)]
    for name, s in summaries.items():
        cells = [f"{s['shares'][o]:.3f} ({s['counts'][o]})" for o in OUTCOMES]
        lines.append(f"{name:<6} {s['n']:>4} " + " ".join(f"{c:>13}" for c in cells)
                     + f" {s['first_cited_right']:>12.3f}")
    lines.append(f"* issue #10 target: cited right >= {TARGET[1]:.2f}. first right = the first citation is a right "
                 "article.")
    lines.append("hedged ('not sure') answers: " + ", ".join(f"{name} {s['hedged']}" for name, s in summaries.items())
                 + "; turns that opened a ticket: " + ", ".join(f"{name} {s['tickets']}"
                                                                for name, s in summaries.items()))
    return "\n".join(lines)


def intent_lines(summary: dict[str, Any]) -> str:
    """The detected intents behind each outcome that is not a right citation."""
    return "\n".join(f"  {TITLES[o]:<12} " + ", ".join(f"{intent} {count}" for intent, count in pairs)
                     for o, pairs in summary["intents"].items())


def report(results: Sequence[Result]) -> dict[str, Any]:
    """The JSON report: the summaries per split and every question's details."""
    return {"summaries": by_split(results), "questions": [r.as_dict() for r in results]}


# ---------- the command ----------

def command(
    split: Annotated[str, typer.Option(help="which questions: dev, test (held out) or all")] = "all",
    limit: Annotated[int | None, typer.Option(min=1, help="at most N questions, spread evenly over the set")] = None,
    json_out: Annotated[str | None, typer.Option("--json", help="write the report with every question's details "
                                                                "to this file ('-': standard output)")] = None,
    api: Annotated[str | None, typer.Option(help="the running api (default: DESKMATE_PUBLIC_URL, else "
                                                 "http://DESKMATE_HOST:DESKMATE_PORT)")] = None,
    as_: Annotated[str | None, typer.Option("--as", help="chat as this employee, signed with the widget site key "
                                                         "(default DESKMATE_WIDGET_DEMO_EMAIL)")] = None,
    anonymous: Annotated[bool, typer.Option(help="chat anonymously (no signed identity)")] = False,
    site: Annotated[str | None, typer.Option(help="the embedding site whose key signs the identity")] = None,
    concurrency: Annotated[int, typer.Option(min=1, max=16, help="questions asked at once")] = 4,
    questions: Annotated[Path | None, typer.Option(exists=True, dir_okay=False,
                                                   help="the questions (default data/eval/kb_chat.yml)")] = None,
    kb_dir: Annotated[Path | None, typer.Option(exists=True, file_okay=False,
                                                help="the KB articles, to name cited articles (default "
                                                     "DESKMATE_KB_DIR)")] = None,
) -> None:
    """Ask real questions whose answer is in the KB, each in a fresh widget conversation of the running bot, and
    count how the bot replied: cited the right article, another one, refused, canned reply, fallback, no answer.

    Registered by api/cli.py as ``deskmate eval chat``; docs/chat.md, "Measuring answers end to end"."""
    from rich.console import Console
    from rich.progress import Progress

    from api.chat.identity import sign_identity
    from api.cli_helpers import detail, fail
    from api.errors import DeskmateError
    from api.settings import REPO_ROOT, get_settings

    if split not in SPLITS:
        fail(f"--split {split!r}: use dev, test or all")
    settings = get_settings()
    chosen = spread(load_questions(questions or REPO_ROOT / "data" / "eval" / "kb_chat.yml",
                                   split=None if split == "all" else split), limit)
    try:
        articles = Articles.from_dir(kb_dir or settings.kb_dir)
    except kb_index.ArticleError as exc:
        fail(str(exc))
    book = ReplyBook.from_domain(REPO_ROOT / "bot" / "domain.yml")
    email = None if anonymous else (as_ or settings.widget_demo_email)
    if email:
        try:
            sign_identity(settings, email, site=site)
        except DeskmateError as exc:
            fail(f"{detail(exc)} (or chat with --anonymous)")
    base = api or settings.base_url

    def identity() -> str | None:
        return sign_identity(settings, email, site=site) if email else None

    client = WidgetClient(base, identity=identity, timeout_s=settings.rasa_timeout_s + 30)
    typer.echo(f"asking {len(chosen)} questions at {base} " + (f"as {email}" if email else "anonymously"), err=True)

    async def go() -> list[Result]:
        try:
            with Progress(console=Console(stderr=True), transient=True) as bar:
                task = bar.add_task(f"asking {len(chosen)} questions", total=len(chosen))
                return await run(chosen, client, articles=articles, book=book, concurrency=concurrency,
                                 progress=lambda: bar.advance(task))
        finally:
            await client.aclose()

    try:
        results = asyncio.run(go())
    except (StackRefused, httpx.HTTPError) as exc:
        fail(f"{exc} - is the stack running at {base}? (make run; docs/chat.md)")
    full = report(results)
    if json_out == "-":
        typer.echo(json.dumps(full, indent=2))
        return
    typer.echo(table(full["summaries"]))
    typer.echo("detected intents behind the other outcomes (all):")
    typer.echo(intent_lines(full["summaries"]["all"]))
    if json_out:
        Path(json_out).write_text(json.dumps(full, indent=2))
        typer.echo(f"full report: {json_out}")
