"""The gateway's step-up screen: a code the employee types never reaches Rasa (docs/stepup.md, docs/bot.md).

While a challenge of the conversation is open (``stepup.open_challenge``: started within the last hour), a user
message with one code-shaped run ("123456", "it's 123 456") is not forwarded: the gateway checks the code itself
(``stepup.verify``) and Rasa receives only the outcome, as an intent payload of Rasa's own syntax:

- ``/stepup_passed`` — the code was right; runs of the conversation waiting at a step-up step are queued now;
- ``/stepup_failed{"attempts_left": 3}`` — wrong code, with the attempts left before the lockout;
- ``/stepup_locked`` — that was one wrong code too many (or step-up was locked already): the identity check is
  locked and the "possible account takeover" ticket is open;
- ``/stepup_expired`` — the code came too late; the bot can send a new one.

Any other code-shaped text while a challenge is open (two runs of digits, or a code typed again after a pass) goes
to Rasa with the digits replaced, as the transcript keeps it. Text that starts with ``/stepup_`` is the gateway's
alone: typed by someone, it loses its slash, so nobody can announce a pass that did not happen (the bot only
ever believes the run's state from the api anyway).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from api.db import Conn
from api.errors import NotFound
from api.settings import Settings
from api.stepup import service as stepup
from api.workflows import engine as workflows

PASSED, LOCKED, EXPIRED, FAILED = "/stepup_passed", "/stepup_locked", "/stepup_expired", "/stepup_failed"
_RESERVED = re.compile(r"^\s*/(?=stepup_)")


@dataclass(frozen=True)
class Screened:
    """What the transcript keeps of a user's message, and what Rasa receives instead of it."""

    kept: str
    to_rasa: str


async def screen(conn: Conn, settings: Settings, *, conversation: dict[str, Any], text: str) -> Screened:
    """Screens one user message of ``conversation`` (a row of ``chat.get_conversation``) before it is stored."""
    text = _RESERVED.sub("", text)
    conversation_id = str(conversation["id"])
    if stepup.redact(text) == text:  # nothing code-shaped: no need to look
        return Screened(text, text)
    challenge = await stepup.open_challenge(conn, conversation_id=conversation_id)
    if challenge is None:
        return Screened(text, text)
    kept = stepup.redact(text)
    code = stepup.code_in(text)
    if code is None or challenge["used"] or challenge["user_id"] != conversation["employee_id"]:
        return Screened(kept, kept)
    if challenge["expired"]:
        return Screened(kept, EXPIRED)
    return Screened(kept, await _verify(conn, settings, challenge=challenge, conversation_id=conversation_id,
                                        code=code))


async def _verify(conn: Conn, settings: Settings, *, challenge: dict[str, Any], conversation_id: str,
                  code: str) -> str:
    """Checks the code; the outcome payload for Rasa. A pass wakes the conversation's waiting runs."""
    try:
        await stepup.verify(conn, settings, user_id=challenge["user_id"], conversation_id=conversation_id,
                            challenge_id=challenge["id"], code=code)
    except stepup.WrongCode as exc:
        return f"{FAILED}{json.dumps({'attempts_left': exc.extra.get('attempts_left', 0)})}"
    except stepup.StepUpLocked:
        return LOCKED
    except (stepup.ChallengeExpired, stepup.ChallengeUsed, NotFound):
        return EXPIRED
    await workflows.wake_step_up(conn, conversation_id=conversation_id)
    return PASSED
