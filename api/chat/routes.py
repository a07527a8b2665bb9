"""Chat gateway endpoints: conversations, messages, transcript, escalation, and NLU parse."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Header, Request, status

from api.auth.deps import StaffUser, current_principal
from api.auth.models import Principal
from api.chat import service
from api.chat.identity import verify_session
from api.chat.models import (
    ConversationStart,
    ConversationStarted,
    Escalation,
    EscalationRequest,
    ParseRequest,
    Transcript,
    Turn,
    UserText,
)
from api.chat.rasa import RasaClient
from api.db import ConnDep
from api.deps import SettingsDep
from api.ratelimit import ConversationStartLimit

router = APIRouter(prefix="/chat/conversations", tags=["chat"])
nlu = APIRouter(prefix="/nlu", tags=["chat"])


def _rasa(request: Request) -> RasaClient:
    return request.app.state.rasa  # type: ignore[no-any-return]


RasaDep = Annotated[RasaClient, Depends(_rasa)]


def session(conversation_id: UUID, settings: SettingsDep,
            x_chat_session: Annotated[str, Header(max_length=1000)] = "") -> str:
    """The conversation id, once the X-Chat-Session token proves the caller holds it."""
    verify_session(settings, x_chat_session, str(conversation_id))
    return str(conversation_id)


Session = Annotated[str, Depends(session)]


@router.post("", status_code=status.HTTP_201_CREATED)
async def start(data: ConversationStart, conn: ConnDep, settings: SettingsDep,
                _: ConversationStartLimit) -> ConversationStarted:
    return await service.start(conn, settings, identity=data.identity, channel=data.channel)


@router.post("/{conversation_id}/messages")
async def post_message(conversation_id: Session, data: UserText, conn: ConnDep, settings: SettingsDep,
                       rasa: RasaDep) -> Turn:
    return await service.post_message(conn, settings, rasa, conversation_id=conversation_id, text=data.text)


@router.get("/{conversation_id}/messages")
async def get_messages(conversation_id: Session, conn: ConnDep) -> Transcript:
    return Transcript(messages=await service.transcript(conn, conversation_id=conversation_id))


async def escalation_caller(request: Request, conversation_id: UUID, settings: SettingsDep, conn: ConnDep,
                            x_chat_session: Annotated[str | None, Header(max_length=1000)] = None) -> Principal | None:
    """The widget proves itself with X-Chat-Session; the action server with a service token on behalf of someone."""
    if x_chat_session is not None or "authorization" not in request.headers:
        verify_session(settings, x_chat_session or "", str(conversation_id))
        return None
    return await current_principal(request, conn)


@router.post("/{conversation_id}/escalate", status_code=status.HTTP_201_CREATED)
async def escalate(conversation_id: UUID, data: EscalationRequest, conn: ConnDep,
                   acting: Annotated[Principal | None, Depends(escalation_caller)]) -> Escalation:
    """Opens a ticket with the transcript for the conversation's employee."""
    return await service.escalate(conn, conversation_id=str(conversation_id), request=data, acting=acting)


@nlu.post("/parse")
async def parse(data: ParseRequest, rasa: RasaDep, _: StaffUser) -> dict:  # type: ignore[type-arg]
    """Rasa's NLU result (intent, confidence, ranking, entities) for a text; for evaluation."""
    return await rasa.parse(data.text)
