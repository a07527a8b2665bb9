"""Opening a ticket from a conversation: the one way, for the widget's button and the bot's actions alike.

The caller says why (``reason``) and what it collected (summary, description, urgency, type, details); this
module builds the title, the transcript, the description and the defaults. One ticket per conversation turn:
a retry, or "Open a ticket" after the bot already opened one in the same turn, returns the same ticket.
Before an incident ticket is opened, the report is matched against known issues (api/incidents/matching.py):
a match links the employee to it instead (``outcome: linked``).
"""

from __future__ import annotations

from typing import Any

from api import sql
from api.auth import service as people
from api.auth.models import Principal
from api.channels import TICKET_SOURCE, Channel
from api.chat import service as chat
from api.chat.models import ConversationTicket, Message, TicketRequest, Turn
from api.db import Conn
from api.errors import Conflict, Forbidden
from api.incidents import matching as metoo
from api.incidents import service as incidents
from api.incidents.models import KnownIssue
from api.kb.embedding import Embedder
from api.settings import Settings
from api.tickets import service as tickets
from api.tickets.models import SourceType, Ticket, TicketCreate, TicketType

Q = sql.load("api.chat")
TRANSCRIPT_LIMIT = 50
# Intents that only steer the conversation; they never say what it is about.
CONTROL_INTENTS = frozenset({
    "affirm", "deny", "inform", "stop", "thank", "greet", "goodbye", "chitchat", "nlu_fallback",
    "open_ticket", "human_handoff", "help", "bot_challenge", "ask_question",
})
REQUEST_INTENTS = frozenset({"software_request", "access_request", "vpn_access_request", "new_employee_setup"})
WHO = {"user": "Employee", "bot": "Assistant"}
# Under a known issue: a new turn that asks for a ticket again (the bot's ticket form, or the gateway's button
# after it) opens one of the employee's own (api.incidents.matching.link_if_known).
DIFFERENT_BUTTON = {"title": "Mine is different: open a ticket", "payload": "/open_ticket"}


def transcript_text(messages: list[Message]) -> str:
    """The conversation as plain text for a ticket: ``[HH:MM] Employee: …`` / ``[HH:MM] Assistant: …``."""
    return "\n".join(f"[{m.created_at:%H:%M}] {WHO[m.direction]}: {m.text}" for m in chat.as_seen(messages) if m.text)


def said(messages: list[Message]) -> list[Message]:
    """The employee's own words (button payloads such as ``/affirm`` or ``deskmate:…`` left out)."""
    return [m for m in messages if m.direction == "user" and m.text and not m.text.startswith(("/", "deskmate:"))]


def ticket_data(conversation_id: str, history: list[Message], request: TicketRequest,
                channel: Channel = Channel.web, *, mobile: bool = False) -> TicketCreate:
    """Title, description with transcript, type and metadata of a conversation's ticket; a widget conversation
    started on a phone (``mobile``, api/channels/web/models.py ClientKind) gives source MOBILE."""
    own = said(history)
    topic = next((m for m in reversed(own) if m.intent and m.intent not in CONTROL_INTENTS), None)
    classified = topic or next((m for m in reversed(history) if m.direction == "user" and m.intent), None)
    about = topic or (own[-1] if own else None)
    title = request.summary or (about.text if about else "Help requested in the chat")
    details = "\n".join(f"{k.replace('_', ' ').capitalize()}: {v}" for k, v in request.details.items())
    description = "\n\n".join(filter(None, [request.description, details, "Conversation transcript:",
                                            transcript_text(history)]))
    kind = request.type or (TicketType.request if topic and topic.intent in REQUEST_INTENTS else TicketType.incident)
    metadata: dict[str, Any] = {"conversation_id": conversation_id, "reason": request.reason,
                                "intent": classified.intent if classified else None,
                                "confidence": classified.confidence if classified else None}
    if request.details:
        metadata["details"] = request.details
    if request.separate:
        metadata["separate_from_known_issue"] = True
    return TicketCreate(
        title=title[:200], description=description[:20_000], type=kind,
        urgency=request.urgency, source_type=SourceType.MOBILE if mobile and channel is Channel.web else SourceType(TICKET_SOURCE[channel]),
        source_reference=conversation_id,
        integration_metadata=metadata)


async def _claim(conn: Conn, *, conversation_id: str, key: str, user_message_id: int | None) -> int | None:
    """None when this turn (or key) has no ticket yet and is now claimed; else the ticket it opened."""
    params = {"conversation_id": conversation_id, "key": key, "user_message_id": user_message_id}
    if await (await conn.execute(Q.claim_ticket, params)).fetchone():
        return None
    row = await (await conn.execute(Q.claimed_ticket, params)).fetchone()
    if row is None or row["ticket_id"] is None:
        raise Conflict("A ticket for this turn is still being opened; retry shortly.")
    return int(row["ticket_id"])


async def open_ticket(conn: Conn, *, conversation_id: str, request: TicketRequest, acting: Principal | None,
                      idempotency_key: str | None = None, confirm: bool = True,
                      matching: metoo.Matching | None = None) -> ConversationTicket:
    """Opens (or finds, for a repeated turn) the conversation's ticket for its employee, or links the employee to
    the known issue their report matches (``matching``; None: no matching, always a ticket).

    ``acting`` is who asks: None for the conversation's own channel session, else a principal that must be the
    conversation's employee. ``confirm`` stores the confirmation in the conversation; the bot's actions pass
    False because they say it in their own reply, which the gateway stores with the turn.
    """
    conversation = await chat.get_conversation(conn, conversation_id=conversation_id)
    if conversation["employee_id"] is None:
        raise Forbidden("Sign in to the intranet first so the service desk knows who you are.")
    if acting is not None and acting.id != conversation["employee_id"]:
        raise Forbidden("This conversation belongs to someone else.")
    employee = acting or await people.principal_by_id(conn, user_id=conversation["employee_id"])
    turn = await (await conn.execute(Q.last_user_message, {"id": conversation_id})).fetchone()
    turn_id = turn["id"] if turn else None
    key = f"key:{idempotency_key}" if idempotency_key else f"turn:{turn_id or 0}"
    history = await chat.transcript(conn, conversation_id=conversation_id, limit=TRANSCRIPT_LIMIT)
    data = ticket_data(conversation_id, history, request, Channel(conversation["channel"]),
                       mobile=conversation["client"] == "mobile")
    report = None
    if matching is not None and data.type is TicketType.incident and not request.separate:
        report = await metoo.report(conn, matching, text=_report_text(data, request),
                                    intent=data.integration_metadata.get("intent"))
    async with conn.transaction():
        earlier = await _claim(conn, conversation_id=conversation_id, key=key, user_message_id=turn_id)
        if earlier is not None:
            ticket, issue = await _replayed(conn, employee=employee, ticket_id=earlier, conversation_id=conversation_id)
        else:
            ticket, issue = await _open_or_link(conn, employee=employee, conversation_id=conversation_id, data=data,
                                                separate=request.separate, matching=matching, report=report)
            await conn.execute(Q.record_ticket, {"conversation_id": conversation_id, "key": key, "ticket_id": ticket.id})
    answer = ConversationTicket(ticket=ticket, messages=[], outcome="linked" if issue else "opened", incident=issue)
    if confirm:
        text, buttons = _confirmation(ticket, issue)
        answer.messages = [await chat.store(conn, conversation_id, "bot", text, payload={"buttons": buttons},
                                            ticket_id=ticket.id)]
    return answer


def _report_text(data: TicketCreate, request: TicketRequest) -> str:
    """What the employee reported, in their words: the title (their summary or message) and any description."""
    return ". ".join(filter(None, [data.title, request.description]))


async def _open_or_link(conn: Conn, *, employee: Principal, conversation_id: str, data: TicketCreate, separate: bool,
                        matching: metoo.Matching | None, report: metoo.Report | None) -> tuple[Ticket, KnownIssue | None]:
    """Links the employee to the known issue their report matches, else opens their ticket (in the caller's
    transaction, under the matching lock when there was a report to match)."""
    if separate:
        await metoo.unlink_conversation(conn, conversation_id=conversation_id)
    if matching is not None and report is not None:
        issue = await metoo.link_if_known(conn, matching, report=report, user_id=employee.id,
                                          conversation_id=conversation_id)
        if issue is not None:
            return await incidents.issue_ticket(conn, ticket_id=issue.id), issue
    ticket, _ = await tickets.create(conn, principal=employee, data=data)
    if report is not None:
        await metoo.record_requester(conn, ticket_id=ticket.id, user_id=employee.id, conversation_id=conversation_id,
                                     report=report)
    return ticket, None


async def _replayed(conn: Conn, *, employee: Principal, ticket_id: int,
                    conversation_id: str) -> tuple[Ticket, KnownIssue | None]:
    """A repeated turn's answer: the known issue it was linked to, or the ticket it opened."""
    issue = await metoo.linked_issue(conn, ticket_id=ticket_id, user_id=employee.id, conversation_id=conversation_id)
    if issue is not None:
        return await incidents.issue_ticket(conn, ticket_id=ticket_id), issue
    return await tickets.get_or_raise(conn, principal=employee, ref=ticket_id), None


def _confirmation(ticket: Ticket, issue: KnownIssue | None) -> tuple[str, list[dict[str, str]]]:
    """The reply stored in the conversation when the api says it (the widget's button): text and buttons."""
    if issue is None:
        return (f"I've opened ticket {ticket.number} for you. The service desk will be in touch; "
                "you can ask me for its status any time."), []
    what = f"{issue.number} ({issue.title})" if issue.title else issue.number
    return (f"This looks like a known issue: {what}. The service desk is on it, and I've added you to the people "
            "affected; you'll hear from us when it's fixed. If your problem is different, open a ticket of your own."
            ), [DIFFERENT_BUTTON]


async def button_turn(conn: Conn, settings: Settings, *, conversation_id: str, embedder: Embedder | None) -> Turn:
    """The "Open a ticket" button (``deskmate:open_ticket``) pressed in a channel whose buttons come back as the
    next message (Slack, Teams): what the widget's ``POST …/tickets`` does, as a turn. The press is stored as the
    employee's message (its payload: never a ticket title); anonymous conversations are told to sign in."""
    await chat.store(conn, conversation_id, "user", chat.OPEN_TICKET)
    try:
        answer = await open_ticket(conn, conversation_id=conversation_id, request=TicketRequest(reason="user_request"),
                                   acting=None, matching=metoo.Matching.from_settings(settings, embedder)
                                   if embedder is not None else None)
    except Forbidden as exc:
        return Turn(messages=[await chat.store(conn, conversation_id, "bot", exc.detail or "")], intent=None,
                    confidence=None)
    return Turn(messages=answer.messages, intent=None, confidence=None)

