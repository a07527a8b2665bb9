"""Helpers of the CSAT tests: a ticket from a conversation or a mailbox, resolving it, its survey."""

from __future__ import annotations

from typing import Any

from api.auth.models import Principal
from api.channels import Channel
from api.chat import service as chat
from api.chat.identity import sign_identity
from api.csat import send
from api.settings import Settings
from api.tickets import service as tickets
from api.tickets.models import TicketCreate, Transition
from api.types import SourceType, Status


async def widget(client, settings: Settings, email: str) -> tuple[str, dict[str, str]]:
    """A widget conversation for ``email``: its id and session headers."""
    r = await client.post("/api/v1/chat/conversations", json={"identity": sign_identity(settings, email)})
    assert r.status_code == 201, r.text
    return r.json()["conversation_id"], {"X-Chat-Session": r.json()["session_token"]}


async def conversation(conn, employee, channel: Channel, ref: dict[str, Any]) -> str:
    """A Slack or Teams conversation of ``employee`` whose replies go to ``ref``."""
    return str(await chat.conversation_for(conn, channel=channel, key=f"csat:{employee.user.id}:{channel}",
                                           employee=employee.user, channel_user="U1", ref=ref))


async def ticket_from(conn, requester: Principal, *, conversation_id: str | None = None,
                      source: SourceType = SourceType.CHATBOT) -> dict[str, Any]:
    """A ticket of ``requester`` opened from a conversation (or, with no conversation, from ``source``)."""
    ticket, _ = await tickets.create(conn, principal=requester, data=TicketCreate(
        title="The docking station does not charge", source_type=source, source_reference=conversation_id))
    return ticket.model_dump()


async def resolve(conn, by: Principal, ticket_id: int, *, resolution: str = "agent") -> None:
    await tickets.transition(conn, principal=by, ref=ticket_id, resolution=resolution,  # type: ignore[arg-type]
                             data=Transition(status=Status.resolved, reason="fixed"))


async def survey_of(conn, ticket_id: int) -> dict[str, Any] | None:
    return await (await conn.execute("SELECT * FROM csat_surveys WHERE ticket_id = %s", (ticket_id,))).fetchone()


async def send_now(conn, settings: Settings, ticket_id: int) -> str:
    """Sends the ticket's survey as the worker's job does; its status afterwards."""
    survey = await survey_of(conn, ticket_id)
    assert survey is not None
    return await send.send_survey(conn, settings, survey_id=survey["id"])
