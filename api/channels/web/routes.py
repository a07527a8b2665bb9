"""The widget's gateway: start a conversation (with the page's signed identity), send a message, read the
transcript. The session token (X-Chat-Session) proves the browser holds the conversation."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Header, Query, status

from api.auth import service as people
from api.channels import Channel
from api.channels.web.models import ConversationStart, ConversationStarted
from api.chat import service as chat
from api.chat.identity import sign_session, verify_identity, verify_session
from api.chat.models import Employee, Transcript, Turn, UserText
from api.chat.routes import RasaDep
from api.db import ConnDep, PoolDep
from api.deps import SettingsDep
from api.errors import Forbidden
from api.ratelimit import ConversationStartLimit

router = APIRouter(prefix="/chat/conversations", tags=["chat"])


def session(conversation_id: UUID, settings: SettingsDep,
            x_chat_session: Annotated[str, Header(max_length=1000)] = "") -> str:
    """The conversation id, once the X-Chat-Session token proves the caller holds it."""
    verify_session(settings, x_chat_session, str(conversation_id))
    return str(conversation_id)


Session = Annotated[str, Depends(session)]


@router.post("", status_code=status.HTTP_201_CREATED)
async def start(data: ConversationStart, conn: ConnDep, settings: SettingsDep,
                _: ConversationStartLimit) -> ConversationStarted:
    """Starts a conversation, anonymous or for the employee the page's signed identity names."""
    employee = None
    if data.identity:
        email = verify_identity(settings, data.identity)
        employee = await people.get_by_email(conn, email=email)
        if employee is None or not employee.active:
            raise Forbidden(f"{email} is not a known, active user.")
    conversation_id = await chat.start(conn, channel=Channel.web, employee=employee,
                                       channel_user=employee.email if employee else None, client=data.client)
    return ConversationStarted(
        conversation_id=conversation_id, session_token=sign_session(settings, str(conversation_id)),
        employee=Employee(email=employee.email, name=employee.name) if employee else None)


@router.post("/{conversation_id}/messages")
async def post_message(conversation_id: Session, data: UserText, pool: PoolDep, settings: SettingsDep,
                       rasa: RasaDep) -> Turn:
    return await chat.post_message(pool, settings, rasa, conversation_id=conversation_id, text=data.text)


@router.get("/{conversation_id}/messages")
async def get_messages(conversation_id: Session, conn: ConnDep,
                       after: Annotated[int | None, Query(ge=0, le=2**62, description=(
                           "only the messages newer than this id (the widget polls for ticket updates)"))] = None,
                       ) -> Transcript:
    return Transcript(messages=chat.as_seen(await chat.transcript(conn, conversation_id=conversation_id, after=after)))
