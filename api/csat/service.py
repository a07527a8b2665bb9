"""Answers to CSAT surveys (the chat's 1–5 buttons, the e-mail's links) and the report of them.

A survey is answered once, by the ticket's requester: in a chat the conversation's employee must be the requester;
by e-mail the signed link is the proof. A second answer is refused politely (chat) or with 409 (the link's form).

The optional comment: on the e-mail page, a field of the form; in a chat, the thank-you offers an "Add a comment"
button, the bot then asks for it, and the requester's next message in that conversation — only if it comes right
after the bot's question — is the comment, not a turn for the bot.
"""

from __future__ import annotations

import hmac
import re
from datetime import datetime
from html import escape
from typing import Any

from api import sql
from api.auth.models import Principal
from api.csat import links
from api.csat.models import Answer, Report, Split, TicketCsat
from api.db import Conn
from api.errors import Conflict, NotFound, ValidationFailed
from api.settings import Settings
from api.tickets import service as tickets

Q = sql.load("api.csat")
BUTTON = re.compile(r"^deskmate:csat:(\d{1,18}):([1-5]|comment)$")
QUESTION = 'Your ticket {number} "{title}" is resolved. How satisfied are you with how it was handled?'
SCALE = "1 = very dissatisfied, 5 = very satisfied."
THANKS = "Thank you for rating {number}: {score} out of 5."
ALREADY = "You have already rated {number} — thank you!"
NOT_YOURS = "I can only take a rating from the person the ticket is for."
ASK_COMMENT = "What would you like to add? Your next message here is kept as your comment on {number}."
COMMENTED = "Thank you, your comment on {number} is noted."
NO_COMMENT = "There is already a comment on {number}, or it has not been rated yet."
COMMENT_MAX = 2000


def comment_button(survey_id: int) -> dict[str, str]:
    return {"title": "Add a comment", "payload": f"deskmate:csat:{survey_id}:comment"}


def buttons(survey_id: int) -> list[dict[str, str]]:
    """The survey's 1–5 buttons; a press sends ``deskmate:csat:<survey>:<score>`` (``BUTTON``, which also matches
    the "Add a comment" button's ``deskmate:csat:<survey>:comment``)."""
    return [{"title": str(n), "payload": f"deskmate:csat:{survey_id}:{n}"} for n in range(1, 6)]


async def _survey(conn: Conn, survey_id: int) -> dict[str, Any] | None:
    row = await (await conn.execute(Q.get_survey, {"id": survey_id})).fetchone()
    return dict(row) if row else None


async def _record(conn: Conn, survey: dict[str, Any], *, score: int, comment: str | None) -> bool:
    """True when this answer was recorded; False when the survey was answered before."""
    return await (await conn.execute(Q.answer, {"id": survey["id"], "score": score, "comment": comment})
                  ).fetchone() is not None


async def answer_in_chat(conn: Conn, *, survey_id: int, score: int, employee_id: int | None
                         ) -> tuple[str, list[dict[str, str]]]:
    """Records a 1–5 button press of the conversation's employee; the bot's reply and its buttons."""
    survey = await _survey(conn, survey_id)
    if survey is None or employee_id is None or survey["requester_id"] != employee_id:
        return NOT_YOURS, []
    if not await _record(conn, survey, score=score, comment=None):
        return ALREADY.format(number=survey["ticket_number"]), []
    return THANKS.format(number=survey["ticket_number"], score=score), [comment_button(survey_id)]


async def comment_prompt(conn: Conn, *, survey_id: int, employee_id: int | None) -> tuple[str, bool]:
    """The bot's answer to "Add a comment": the question and True, or why the conversation's employee may not
    comment (not theirs, not rated yet, commented already) and False."""
    survey = await _survey(conn, survey_id)
    if survey is None or employee_id is None or survey["requester_id"] != employee_id:
        return NOT_YOURS, False
    if survey["answered_at"] is None or survey["comment"] is not None:
        return NO_COMMENT.format(number=survey["ticket_number"]), False
    return ASK_COMMENT.format(number=survey["ticket_number"]), True


async def prompt_comment(conn: Conn, *, survey_id: int, prompt_id: int) -> None:
    """The bot asked for the comment with the message ``prompt_id``: the next message after it is the comment."""
    await conn.execute(Q.prompt_comment, {"id": survey_id, "message_id": prompt_id})


async def awaiting_comment(conn: Conn, *, conversation_id: str) -> dict[str, Any] | None:
    """The survey whose comment the conversation's next message is, if its last message asked for one."""
    row = await (await conn.execute(Q.awaiting_comment, {"conversation_id": conversation_id})).fetchone()
    return dict(row) if row else None


async def comment_in_chat(conn: Conn, *, survey: dict[str, Any], text: str) -> str:
    """Keeps ``text`` (its first COMMENT_MAX characters) as the survey's comment; the bot's reply."""
    await conn.execute(Q.set_comment, {"id": survey["id"], "comment": text.strip()[:COMMENT_MAX] or None})
    return COMMENTED.format(number=survey["ticket_number"])


async def _by_link(conn: Conn, settings: Settings, token: str) -> tuple[links.Link, dict[str, Any]]:
    """The link and its survey; LinkInvalid when the survey was not sent with this link's nonce."""
    link = links.verify(settings, token)
    survey = await _survey(conn, link.survey_id)
    if survey is None or survey["token_hash"] is None or not hmac.compare_digest(
            bytes(survey["token_hash"]), links.nonce_hash(link.nonce)):
        raise links.LinkInvalid("This rating link does not belong to a survey of ours.")
    return link, survey


def _page(title: str, body: str) -> str:
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'><title>{escape(title)}</title>"
            f"</head><body><main><h1>{escape(title)}</h1>{body}</main></body></html>")


async def link_page(conn: Conn, settings: Settings, *, token: str) -> str:
    """The page a rating link opens: the chosen score and a form to send it with an optional comment (a POST, so a
    mail scanner that follows links rates nothing)."""
    link, survey = await _by_link(conn, settings, token)
    title = f"Rate {survey['ticket_number']}"
    if survey["answered_at"] is not None:
        return _page(title, f"<p>{escape(ALREADY.format(number=survey['ticket_number']))}</p>")
    return _page(title, (
        f"<p>{escape(survey['ticket_title'])}</p><p>Your rating: <strong>{link.score} out of 5</strong></p>"
        f"<form method='post' action='{links.PATH}/{escape(token)}'>"
        f"<label for='comment'>Anything to add? (optional)</label><br>"
        f"<textarea id='comment' name='comment' rows='4' cols='50' maxlength='{COMMENT_MAX}'></textarea><br>"
        f"<button type='submit'>Send my rating</button></form>"))


async def answer_by_link(conn: Conn, settings: Settings, *, token: str, comment: str | None) -> str:
    """Records the link's score and the comment; the thank-you page. Conflict when the survey was answered."""
    if comment is not None and len(comment) > COMMENT_MAX:
        raise ValidationFailed(f"The comment is longer than {COMMENT_MAX} characters.")
    link, survey = await _by_link(conn, settings, token)
    if not await _record(conn, survey, score=link.score, comment=comment or None):
        raise Conflict(ALREADY.format(number=survey["ticket_number"]))
    return _page("Thank you", f"<p>{escape(THANKS.format(number=survey['ticket_number'], score=link.score))}</p>")


async def for_ticket(conn: Conn, *, principal: Principal, ref: str) -> TicketCsat:
    """The ticket's survey for someone who can see the ticket; NotFound when it has none."""
    ticket = await tickets.get_or_raise(conn, principal=principal, ref=ref)
    row = await (await conn.execute(Q.survey_of_ticket, {"ticket_id": ticket.id})).fetchone()
    if row is None:
        raise NotFound(f"Ticket {ticket.number} has no satisfaction survey.")
    return TicketCsat(**row)


async def report(conn: Conn, *, principal: Principal, start: datetime | None, end: datetime | None,
                 team: str | None, category: str | None, limit: int = 200) -> Report:
    """Counts, averages and score distributions split by bot and person (every team's, as all analytics), and
    the latest answers — each a ticket's score and comment — of the tickets ``principal`` may see."""
    params = {"from": start, "to": end, "team": team, "category": category, "limit": limit}
    splits = {"bot": Split(), "person": Split()}
    for row in await (await conn.execute(Q.report, params)).fetchall():
        splits[row["resolved_by"]] = Split(asked=row["asked"], answered=row["answered"], average=row["average"],
                                           distribution={str(n): row[f"s{n}"] for n in range(1, 6)})
    answers = await (await conn.execute(Q.responses, params | tickets.visibility(principal))).fetchall()
    return Report(bot=splits["bot"], person=splits["person"], responses=[Answer(**r) for r in answers])
