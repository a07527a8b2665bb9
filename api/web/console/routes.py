"""The agent console's pages: ``/console`` (queues), ``/console/queue.json`` (what the queue page polls),
``/console/tickets/{number}`` and its forms, ``/console/bulk``.

Handlers only call the services the REST API calls (api/tickets, api/sla, api/routing, api/kb, api/chat,
api/workflows, api/integrations/sync) with the same pydantic models, so the roles and rules are the API's.
Forms POST and redirect back (``?done=…``); a refused change shows the ticket page again with the error.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from pydantic import ValidationError

from api.auth import service as people
from api.auth.deps import StaffUser
from api.auth.models import Principal, Role
from api.chat import service as chat
from api.chat.models import Message
from api.chat.tickets import said
from api.db import Conn, ConnDep
from api.errors import DeskmateError, NotFound
from api.integrations.sync import service as sync
from api.kb import service as kb_service
from api.kb import similar
from api.kb.routes import get_kb
from api.routing import engine as routing
from api.sla import clock
from api.tickets import service as tickets
from api.tickets.models import (
    OPEN_STATUSES,
    PRIORITY_NAMES,
    TRANSITIONS,
    Assignment,
    CommentCreate,
    Status,
    Ticket,
    TicketUpdate,
    Transition,
)
from api.web.console import timeline
from api.web.pages import PAGE_HEADERS, render
from api.web.routes import STATIC
from api.workflows import service as workflows

log = logging.getLogger(__name__)
SUMMARY_PROMPT = ("Summarise this IT service desk ticket for the agent who picks it up, in at most three sentences: "
                  "the problem, what was tried, what the employee asked for last.")
router = APIRouter(prefix="/console", tags=["web"], include_in_schema=False)
PAGE_SIZE = 25
DUE_SOON = timedelta(hours=1)  # "about to breach": a due time within the next hour
QUEUES = {"mine": "Mine", "teams": "My teams'", "unassigned": "Unassigned", "breaching": "SLA breaching",
          "pending": "Waiting on employee", "all": "All open"}
DONE = {"replied": "Reply sent.", "noted": "Internal note added.", "moved": "Status changed.",
        "assigned": "Assignment changed.", "updated": "Classification changed.", "bulk": "Bulk action done."}
OPEN = sorted(OPEN_STATUSES)


@dataclass(frozen=True)
class QueueQuery:
    """What a queue page shows: the queue, the search and the filters (empty form fields mean "any")."""

    queue: str = "mine"
    q: str | None = None
    status: Status | None = None
    priority: int | None = None
    category: str | None = None
    team: int | None = None
    cursor: str | None = None

    def filters(self, principal: Principal) -> tickets.Filters:
        """The ticket service's filters of this queue, narrowed by the page's own filters."""
        base: dict[str, Any] = {"status": [self.status] if self.status else OPEN, "priority": self.priority,
                                "q": self.q, "category": self.category, "team_id": self.team}
        if self.queue == "mine":
            base |= {"assignee_id": principal.id,
                     "status": [self.status] if self.status else sorted(OPEN_STATUSES - {Status.pending})}
        elif self.queue == "teams":
            base["in_teams"] = list(principal.team_ids)
        elif self.queue == "unassigned":
            base["unassigned"] = True
        elif self.queue == "breaching":
            base["due_before"] = datetime.now(UTC) + DUE_SOON
        elif self.queue == "pending":
            base["status"] = [Status.pending]
        return tickets.Filters(**base)


def _number(value: str | None, low: int, high: int) -> int | None:
    return int(value) if value and value.isdigit() and low <= int(value) <= high else None


def queue_query(queue: Annotated[str, Query(pattern="^(mine|teams|unassigned|breaching|pending|all)$")] = "mine",
                q: Annotated[str, Query(max_length=200)] = "", status: str = "", priority: str = "",
                category: Annotated[str, Query(max_length=64)] = "", team: str = "",
                cursor: str | None = None) -> QueueQuery:
    """The queue page's query string; a filter left at "any" arrives empty."""
    return QueueQuery(queue=queue, q=q.strip() or None, status=Status(status) if status in Status.__members__ else None,
                      priority=_number(priority, 1, 5), category=category or None,
                      team=_number(team, 1, 2**63 - 1), cursor=cursor)


QueueDep = Annotated[QueueQuery, Depends(queue_query)]


class QueueView:
    """One page of a queue: the tickets, the names of their people, the counts and the fingerprint to poll."""

    def __init__(self, items: list[Ticket], next_cursor: str | None, counts: dict[str, int],
                 names: dict[int, str]) -> None:
        self.items, self.next_cursor, self.counts, self.names = items, next_cursor, counts, names
        seen = [(t.id, t.version) for t in items]
        self.etag = '"' + hashlib.sha256(json.dumps([seen, counts]).encode()).hexdigest()[:32] + '"'


async def _queue(conn: Conn, principal: Principal, query: QueueQuery) -> QueueView:
    page = await tickets.list_tickets(conn, principal=principal, filters=query.filters(principal),
                                      cursor=query.cursor, limit=PAGE_SIZE)
    counts = await tickets.count_queues(conn, principal=principal, due_before=datetime.now(UTC) + DUE_SOON)
    names = await people.names(conn, user_ids={t.requester_id for t in page.items})
    return QueueView(page.items, page.next_cursor, counts, names)


@router.get("")
async def queue_page(request: Request, conn: ConnDep, principal: StaffUser, query: QueueDep,
                     done: str | None = None) -> Response:
    """A queue as a table, with the counts of every queue, search, filters and bulk actions."""
    view = await _queue(conn, principal, query)
    params = {k: v for k, v in request.query_params.items() if k not in ("cursor", "done") and v}
    return render(request, "console/queue.html", {
        "principal": principal, "queue": query.queue, "queues": QUEUES, "view": view, "query": query,
        "statuses": list(Status), "priorities": PRIORITY_NAMES,
        "categories": await tickets.list_categories(conn), "teams": await people.list_teams(conn),
        "next_url": f"/console?{urlencode(params | {'cursor': view.next_cursor})}" if view.next_cursor else None,
        "poll_url": f"/console/queue.json?{urlencode(params)}", "done": DONE.get(done or ""),
        "bulk_statuses": [Status.in_progress, Status.pending, Status.resolved],
        "back": f"/console?{urlencode({k: v for k, v in request.query_params.items() if k != 'done'})}",
    })


@router.get("/queue.json")
async def queue_state(request: Request, conn: ConnDep, principal: StaffUser, query: QueueDep) -> Response:
    """The fingerprint of a queue page (its tickets' versions and the counts): 304 while ``If-None-Match`` matches."""
    view = await _queue(conn, principal, query)
    headers = {"ETag": view.etag, "Cache-Control": "no-cache"}
    if request.headers.get("if-none-match") == view.etag:
        return Response(status_code=304, headers=headers)
    return JSONResponse({"counts": view.counts, "tickets": [t.number for t in view.items]}, headers=headers)


def _extractive_summary(ticket: Ticket, transcript: list[Message]) -> str:
    """The description's first two sentences and the employee's last message; never empty."""
    text = ticket.description.split("Conversation transcript:")[0].strip() or ticket.title
    sentences = re.split(r"(?<=[.!?])\s+", " ".join(text.split()))
    summary = " ".join(sentences[:2])
    last = next((m.text for m in reversed(said(transcript))), None)  # words, not a button's payload
    if last and last not in summary:
        summary += f" Last from the employee: “{last}”"
    return summary or ticket.title


async def _summary(llm: Any | None, ticket: Ticket, transcript: list[Message]) -> str:
    """The LLM's summary when one is configured (DESKMATE_LLM_MODEL) and answers, else the extractive one."""
    extractive = _extractive_summary(ticket, transcript)
    if llm is None:
        return extractive
    lines = "\n".join(f"{m.direction}: {m.text}" for m in chat.as_seen(transcript)[-20:])
    try:
        answer = await llm.ainvoke([("system", SUMMARY_PROMPT),
                                    ("user", f"{ticket.title}\n\n{ticket.description[:4000]}\n\n{lines}")])
    except Exception as exc:  # any failure of the model leaves the extractive summary; the page must render
        log.warning("console.summary_failed", extra={"ticket": ticket.number, "error": type(exc).__name__})
        return extractive
    return str(answer.content).strip() or extractive


async def _ticket_context(request: Request, conn: Conn, principal: Principal, number: str) -> dict[str, Any]:
    ticket = await tickets.get_or_raise(conn, principal=principal, ref=number)
    conversation = ticket.integration_metadata.get("conversation_id")
    try:
        transcript = await chat.transcript(conn, conversation_id=conversation) if conversation else []
    except NotFound:
        transcript = []  # the conversation is gone (retention): the description keeps its transcript
    comments, _ = await tickets.list_comments(conn, principal=principal, ref=ticket.id, limit=500)
    events, _ = await tickets.list_events(conn, principal=principal, ref=ticket.id, limit=500)
    decisions = await routing.list_decisions_for(conn, ref=ticket.id, principal=principal)
    try:
        sla = await clock.get_ticket_sla(conn, ref=ticket.id, principal=principal)
    except DeskmateError:
        sla = None  # no SLA policy applies to this ticket
    kb = get_kb(request)
    try:
        articles = (await kb_service.related_to_ticket(conn, kb, principal=principal,
                                                       ticket_ref=str(ticket.id), k=3)).results
    except DeskmateError:
        articles = []
    people_ids = {ticket.requester_id} | {c.author_id for c in comments if c.author_id} \
        | {e.actor_id for e in events if e.actor_id} | ({ticket.assignee_id} if ticket.assignee_id else set())
    categories, names = await tickets.list_categories(conn), await people.names(conn, user_ids=people_ids)
    known = {"people": names, "teams": {t.id: t.name for t in await people.list_teams(conn)},
             "categories": {c.id: c.name for c in categories}}
    return {
        "principal": principal, "ticket": ticket, "transcript": chat.as_seen(transcript), "comments": comments, "events": events,
        "decision": decisions[0] if decisions else None, "sla": sla, "articles": articles,
        "similar": await similar.similar_resolved(conn, kb, principal=principal, ticket_ref=ticket.id),
        "runs": await workflows.list_for_ticket(conn, ticket_id=ticket.id),
        "summary": await _summary(request.app.state.llm, ticket, transcript), "names": names,
        "timeline": [(e, timeline.describe(e, known)) for e in events],
        "transitions": sorted(TRANSITIONS[ticket.status]), "priorities": PRIORITY_NAMES,
        "categories": categories,
        "agents": await people.list_users(conn, role=Role.agent, limit=200),
        "conflicts": await sync.conflicts(conn, ticket=ticket.number) if principal.role is Role.admin else [],
        "now": datetime.now(UTC),
    }


@router.get("/tickets/{number}")
async def ticket_page(number: str, request: Request, conn: ConnDep, principal: StaffUser,
                      done: str | None = None) -> Response:
    context = await _ticket_context(request, conn, principal, number)
    return render(request, "console/ticket.html", context | {"done": DONE.get(done or "")})


async def _after(request: Request, conn: Conn, principal: Principal, number: str, change: Any, done: str) -> Response:
    """Runs ``change`` (a coroutine factory); back to the ticket page, or the page again with the error."""
    try:
        await change()
    except ValidationError as exc:
        error, status = "; ".join(e["msg"] for e in exc.errors()), 422
    except DeskmateError as exc:
        error, status = exc.detail or exc.title, exc.status
    else:
        return RedirectResponse(f"/console/tickets/{number}?done={done}", status_code=303, headers=PAGE_HEADERS)
    context = await _ticket_context(request, conn, principal, number)
    return render(request, "console/ticket.html", context | {"error": error}, status_code=status)


@router.post("/tickets/{number}/comments")
async def comment(number: str, request: Request, conn: ConnDep, principal: StaffUser,
                  body: Annotated[str, Form()] = "", internal: Annotated[bool, Form()] = False) -> Response:
    async def change() -> None:
        await tickets.add_comment(conn, principal=principal, ref=number,
                                  data=CommentCreate(body=body, internal=internal))
    return await _after(request, conn, principal, number, change, "noted" if internal else "replied")


@router.post("/tickets/{number}/transition")
async def move(number: str, request: Request, conn: ConnDep, principal: StaffUser,
               status: Annotated[str, Form()], reason: Annotated[str, Form()] = "") -> Response:
    async def change() -> None:
        await tickets.transition(conn, principal=principal, ref=number,
                                 data=Transition.model_validate({"status": status, "reason": reason or None}))
    return await _after(request, conn, principal, number, change, "moved")


@router.post("/tickets/{number}/assign")
async def assign(number: str, request: Request, conn: ConnDep, principal: StaffUser,
                 assignee: Annotated[str, Form()] = "me") -> Response:
    assignee_id = principal.id if assignee == "me" else int(assignee) if assignee.isdigit() else None

    async def change() -> None:
        await tickets.assign(conn, principal=principal, ref=number, data=Assignment(assignee_id=assignee_id))
    return await _after(request, conn, principal, number, change, "assigned")


@router.post("/tickets/{number}/classification")
async def classify(number: str, request: Request, conn: ConnDep, principal: StaffUser,
                   category: Annotated[str, Form()] = "", urgency: Annotated[int, Form()] = 3,
                   impact: Annotated[int, Form()] = 3) -> Response:
    """Category, urgency and impact (the priority) through the ticket service: a correction feeds the classifier."""
    async def change() -> None:
        data = TicketUpdate.model_validate({"urgency": urgency, "impact": impact} | ({"category": category} if category else {}))
        await tickets.update(conn, principal=principal, ref=number, data=data)
    return await _after(request, conn, principal, number, change, "updated")


@router.post("/bulk")
async def bulk(request: Request, conn: ConnDep, principal: StaffUser, action: Annotated[str, Form()],
               ticket: Annotated[list[str] | None, Form()] = None, status: Annotated[str, Form()] = "",
               note: Annotated[str, Form()] = "", back: Annotated[str, Form()] = "/console") -> Response:
    """Assign to me, transition or add an internal note on every selected ticket; what failed is listed."""
    failed: list[str] = []
    for number in ticket or []:
        try:
            if action == "assign":
                await tickets.assign(conn, principal=principal, ref=number, data=Assignment(assignee_id=principal.id))
            elif action == "transition":
                await tickets.transition(conn, principal=principal, ref=number,
                                         data=Transition.model_validate({"status": status}))
            elif action == "note":
                await tickets.add_comment(conn, principal=principal, ref=number,
                                          data=CommentCreate(body=note, internal=True))
        except (DeskmateError, ValidationError) as exc:
            failed.append(f"{number}: {exc.detail if isinstance(exc, DeskmateError) else 'invalid input'}")
    if failed:
        return render(request, "error.html", {"title": "Some tickets were not changed", "status": 409,
                                              "detail": "; ".join(failed)}, status_code=409)
    target = back if back.startswith("/console") and not back.startswith("//") else "/console"
    joiner = "&" if "?" in target else "?"
    return RedirectResponse(f"{target}{joiner}done=bulk", status_code=303, headers=PAGE_HEADERS)


@router.get("/console.js")
async def console_js() -> FileResponse:
    return FileResponse(STATIC / "console.js", media_type="text/javascript; charset=utf-8")


@router.get("/console.css")
async def console_css() -> FileResponse:
    return FileResponse(STATIC / "console.css", media_type="text/css; charset=utf-8")
