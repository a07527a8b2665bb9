"""Conversation-core endpoints: a ticket from a conversation, and NLU parse for evaluation."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Header, Request, status

from api.auth.deps import StaffUser, current_principal
from api.auth.models import Principal
from api.chat import tickets
from api.chat.identity import verify_session
from api.chat.models import ConversationTicket, ParseRequest, TicketRequest
from api.chat.rasa import RasaClient
from api.db import ConnDep
from api.deps import IdempotencyKey, SettingsDep
from api.errors import Forbidden
from api.incidents.matching import Matching

router = APIRouter(prefix="/chat/conversations", tags=["chat"])
nlu = APIRouter(prefix="/nlu", tags=["chat"])


def rasa_client(request: Request) -> RasaClient:
    return request.app.state.rasa  # type: ignore[no-any-return]


RasaDep = Annotated[RasaClient, Depends(rasa_client)]


async def ticket_caller(request: Request, conversation_id: UUID, settings: SettingsDep, conn: ConnDep,
                        x_chat_session: Annotated[str | None, Header(max_length=1000)] = None) -> Principal | None:
    """The conversation's own session (X-Chat-Session), or a token: the action server's must carry this
    conversation's per-turn assertion."""
    if x_chat_session is not None or "authorization" not in request.headers:
        verify_session(settings, x_chat_session or "", str(conversation_id))
        return None
    principal = await current_principal(request, conn, settings)
    asserted = getattr(request.state, "assertion", None)
    if asserted is not None and asserted.conversation_id != str(conversation_id):
        raise Forbidden("The assertion was made for another conversation.")
    return principal


Caller = Annotated[Principal | None, Depends(ticket_caller)]


@router.post("/{conversation_id}/tickets", status_code=status.HTTP_201_CREATED)
async def open_ticket(conversation_id: UUID, data: TicketRequest, conn: ConnDep, acting: Caller, request: Request,
                      settings: SettingsDep, idempotency_key: IdempotencyKey = None) -> ConversationTicket:
    """Opens a ticket for the conversation's employee with its transcript; one per turn (or Idempotency-Key).
    A report matching a known issue links the employee to it instead (``outcome: linked``; docs/tickets.md)."""
    return await tickets.open_ticket(conn, conversation_id=str(conversation_id), request=data, acting=acting,
                                     idempotency_key=idempotency_key,
                                     confirm=acting is None or acting.via_service_id is None,
                                     matching=Matching.from_settings(settings, request.app.state.embedder))


@router.post("/{conversation_id}/escalate", status_code=status.HTTP_201_CREATED, deprecated=True)
async def escalate(conversation_id: UUID, data: TicketRequest, conn: ConnDep, acting: Caller, request: Request,
                   settings: SettingsDep, idempotency_key: IdempotencyKey = None) -> ConversationTicket:
    """Deprecated alias of ``POST …/{conversation_id}/tickets``."""
    return await open_ticket(conversation_id, data, conn, acting, request, settings, idempotency_key)


@nlu.post("/parse")
async def parse(data: ParseRequest, rasa: RasaDep, _: StaffUser) -> dict:  # type: ignore[type-arg]
    """Rasa's NLU result (intent, confidence, ranking, entities) for a text; for evaluation."""
    return await rasa.parse(data.text)
