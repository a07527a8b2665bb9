"""Step-up endpoints, for the action server acting in a chat turn (its service token + the turn's assertion)."""

from __future__ import annotations

from fastapi import APIRouter, status

from api.auth.deps import TurnDep
from api.db import ConnDep
from api.deps import IdempotencyKey, SettingsDep
from api.errors import PROBLEM_JSON, Problem
from api.stepup import service
from api.stepup.models import Challenge, ChallengeCreate, CodeSubmit, Proof

_PROBLEM = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
_RETRY = {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}}
router = APIRouter(prefix="/stepup", tags=["stepup"], responses={
    410: {"description": "The code has expired", "model": Problem, "content": _PROBLEM},
    423: {"description": "Locked after too many wrong codes (see Retry-After)", "model": Problem, "content": _PROBLEM,
          "headers": _RETRY}})


@router.post("/challenges", status_code=status.HTTP_201_CREATED)
async def start(data: ChallengeCreate, turn: TurnDep, conn: ConnDep, settings: SettingsDep,
                idempotency_key: IdempotencyKey = None) -> Challenge:
    """Sends a one-time code to a factor on file (or asks for the authenticator's); the destination comes back
    masked, never the code. 423 while locked, 429 (Retry-After) when asked too often."""
    return await service.start(conn, settings, user_id=turn.user_id, conversation_id=turn.conversation_id,
                               factor=data.factor, idempotency_key=idempotency_key)


@router.post("/challenges/{challenge_id}/verify")
async def verify(challenge_id: int, data: CodeSubmit, turn: TurnDep, conn: ConnDep, settings: SettingsDep) -> Proof:
    """Checks the code: the proof of a pass, or 422 (wrong, with ``attempts_left``), 410 (expired), 409 (used),
    423 (locked: too many wrong codes)."""
    return await service.verify(conn, settings, user_id=turn.user_id, conversation_id=turn.conversation_id,
                                challenge_id=challenge_id, code=data.code.get_secret_value())
