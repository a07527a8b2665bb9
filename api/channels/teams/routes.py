"""``POST /teams/messages``: the Azure Bot's messaging endpoint (outside /api/v1: Teams, not people, calls it)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request, Response, status

from api.channels.teams import approvals
from api.channels.teams import service as teams
from api.channels.teams.service import TeamsChannel
from api.db import ConnDep
from api.deps import SettingsDep
from api.errors import NotFound, ValidationFailed

router = APIRouter(prefix="/teams", tags=["teams"])


def teams_channel(request: Request) -> TeamsChannel:
    channel: TeamsChannel | None = getattr(request.app.state, "teams", None)
    if channel is None:
        raise NotFound("Microsoft Teams is not configured here (DESKMATE_TEAMS_APP_ID and DESKMATE_TEAMS_CLIENT_SECRET).")
    return channel


async def activity_body(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError as exc:
        raise ValidationFailed("The body is not JSON.") from exc
    if not isinstance(body, dict):
        raise ValidationFailed("The body is not a Bot Framework activity.")
    return body


ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {"description": "Taken and dropped: not a message, nothing said, or an activity already taken (a retry)"},
    202: {"description": "Taken: the reply follows through the Bot Connector"}}


@router.post("/messages", status_code=status.HTTP_202_ACCEPTED, response_class=Response, responses=ANSWERS)
async def messages(channel: Annotated[TeamsChannel, Depends(teams_channel)], request: Request,
                   body: Annotated[dict[str, Any], Depends(activity_body)], conn: ConnDep, settings: SettingsDep,
                   authorization: Annotated[str | None, Header(max_length=10_000)] = None) -> Response:
    """Takes an activity from the Bot Connector (its JWT verified first); a message is answered, an approval card's
    Approve / Deny decided, in the background."""
    service_url = body.get("serviceUrl")
    await channel.verifier.verify(authorization, service_url=service_url if isinstance(service_url, str) else None)
    activity = teams.parse(body)
    inbound = await teams.accept(conn, channel.settings, activity, body)
    if inbound is None:
        return Response(status_code=status.HTTP_200_OK)
    if inbound.press is not None:
        channel.run(approvals.decide(request.app.state.pool, channel, inbound))
        return Response(status_code=status.HTTP_202_ACCEPTED)
    channel.run(teams.answer(request.app.state.pool, settings, request.app.state.rasa, channel, inbound,
                             getattr(request.app.state, "embedder", None)))
    return Response(status_code=status.HTTP_202_ACCEPTED)
