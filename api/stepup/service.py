"""Step-up rules: start a challenge, verify its code, answer "did this employee pass recently here?".

A challenge belongs to one employee in one conversation and to one factor on file (api/stepup/models.py
PREFERENCE). Codes expire (``DESKMATE_STEPUP_CODE_TTL_S``), are single use, are kept only as salted HMACs
(api/stepup/codes.py) and never appear in a log, a response, a ticket or the transcript. Starting is rate limited
per employee and per conversation. ``DESKMATE_STEPUP_MAX_FAILURES`` wrong codes in a row lock step-up for the
employee for ``DESKMATE_STEPUP_LOCK_MINUTES`` and open one high-priority "possible account takeover" ticket;
the count and the lockout are changed under the employee's row lock, so one lockout opens exactly one ticket.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from api import crypto, idempotency, ratelimit, sql
from api.auth.models import Principal, Role
from api.db import Conn
from api.errors import BadRequest, Conflict, DeskmateError, Forbidden, NotFound, RetryLater
from api.settings import Settings
from api.stepup import codes, delivery
from api.stepup.models import PREFERENCE, Challenge, Factor, FactorOnFile, Proof
from api.tickets import service as tickets
from api.tickets.models import SourceType, TicketCreate, TicketType

log = logging.getLogger(__name__)
Q = sql.load("api.stepup")
Clock = Callable[[], datetime]
CREATE_SCOPE = "stepup.challenge"
TAKEOVER_FLAG = "possible_account_takeover"
AUTHENTICATOR = "authenticator app"
REDACTED = "•••••• (verification code)"
OPEN_FOR = timedelta(hours=1)  # how long after a challenge started code-shaped text is screened
_CODE_IN_TEXT = re.compile(r"(?<!\d)\d{3}[ -]?\d{3}(?!\d)")
# What is on file per factor: (where to send, as the bot may show it). TOTP sends nothing.
OnFile = dict[Factor, tuple[str | None, str]]


class StepUpLocked(RetryLater):
    status, type, title = 423, "/problems/stepup-locked", "The identity check is locked"


class ChallengeExpired(Conflict):
    status, type, title = 410, "/problems/stepup-expired", "The code has expired"


class ChallengeUsed(Conflict):
    type, title = "/problems/stepup-used", "The code was already used"


class NoFactor(Conflict):
    type, title = "/problems/stepup-no-factor", "No way to send a code is on file"


class WrongCode(BadRequest):
    status, type, title = 422, "/problems/stepup-wrong-code", "The code is not right"


class StepUpRequired(Forbidden):
    type, title = "/problems/stepup-required", "An identity check is needed first"


def utcnow() -> datetime:
    return datetime.now(UTC)


async def factors_on_file(conn: Conn, *, user_id: int) -> OnFile:
    """The employee's factors: mobile number, e-mail address, authenticator app (only those on file)."""
    row = await (await conn.execute(Q.factors_on_file, {"user_id": user_id})).fetchone()
    if row is None:
        raise Forbidden("That user is no longer active.")
    found: OnFile = {}
    if row["totp"]:
        found[Factor.totp] = (None, AUTHENTICATOR)
    if row["phone"]:
        found[Factor.sms] = (row["phone"], codes.mask_phone(row["phone"]))
    found[Factor.email] = (row["email"], codes.mask_email(row["email"]))
    return found


def _choose(on_file: OnFile, wanted: Factor | None) -> Factor:
    if wanted is not None and wanted not in on_file:
        kinds = ", ".join(on_file) or "none"
        raise NoFactor(f"No {wanted} factor is on file for you (on file: {kinds}).")
    chosen = wanted or next((f for f in PREFERENCE if f in on_file), None)
    if chosen is None:
        raise NoFactor("No mobile number, e-mail address or authenticator app is on file; the service desk "
                       "has to confirm who you are another way.")
    return chosen


def _message(factor: Factor, destination: str, settings: Settings) -> str:
    if factor is Factor.totp:
        return "Enter the 6-digit code your authenticator app shows now."
    return f"A code was sent to {destination}. It expires in {max(1, settings.stepup.code_ttl_s // 60)} minutes."


def _shown(row: dict[str, Any], on_file: OnFile, settings: Settings) -> Challenge:
    factor = Factor(row["factor"])
    return Challenge(**row, message=_message(factor, row["destination"], settings),
                     available=[FactorOnFile(factor=f, destination=masked) for f, (_, masked) in on_file.items()])


async def _refuse_if_locked(conn: Conn, *, user_id: int, now: datetime) -> dict[str, Any]:
    """The employee's step-up state, locked for the transaction; StepUpLocked while a lockout lasts."""
    state = await (await conn.execute(Q.lock_state, {"user_id": user_id})).fetchone()
    assert state is not None
    if state["locked_until"] is not None and state["locked_until"] > now:
        raise StepUpLocked("Too many wrong codes: the identity check is locked for now. The service desk has been "
                           "told and will contact you.", retry_after_s=math.ceil((state["locked_until"] - now)
                                                                                 .total_seconds()))
    return dict(state)


async def _check_rates(conn: Conn, settings: Settings, *, user_id: int, conversation_id: str) -> None:
    s = settings.stepup
    await ratelimit.check(conn, key=f"stepup.user:{user_id}", limit=s.per_user, window_s=s.window_s,
                          message="Too many codes asked for in a short time; wait a little before asking again.")
    await ratelimit.check(conn, key=f"stepup.conversation:{conversation_id}", limit=s.per_conversation,
                          window_s=s.window_s, message="Too many codes asked for in this conversation; wait a "
                          "little before asking again.")


async def start(conn: Conn, settings: Settings, *, user_id: int, conversation_id: str, factor: Factor | None = None,
                idempotency_key: str | None = None, clock: Clock = utcnow) -> Challenge:
    """Starts a challenge for the employee in the conversation and sends its code (not for TOTP).

    Parameters: ``factor`` None picks by PREFERENCE; ``idempotency_key`` makes a retry return the first
    challenge without sending again; ``clock`` gives the time (tests move it).
    Returns the challenge as the bot may show it. Raises NoFactor, StepUpLocked, TooManyRequests, DeliveryFailed.
    """
    on_file = await factors_on_file(conn, user_id=user_id)
    chosen = _choose(on_file, factor)
    async with conn.transaction():
        if idempotency_key:
            earlier = await idempotency.claim(conn, user_id=user_id, scope=CREATE_SCOPE, key=idempotency_key,
                                              payload={"conversation_id": conversation_id, "factor": factor})
            if earlier is not None:
                row = await (await conn.execute(Q.get_challenge, {"id": earlier, "user_id": user_id})).fetchone()
                if row is None:
                    raise NotFound("The challenge this Idempotency-Key started is gone.")
                return _shown(dict(row), on_file, settings)
        now = clock()
        await _refuse_if_locked(conn, user_id=user_id, now=now)
        await _check_rates(conn, settings, user_id=user_id, conversation_id=conversation_id)
        row = await _create(conn, settings, user_id=user_id, conversation_id=conversation_id, factor=chosen,
                            on_file=on_file, now=now)
        if idempotency_key:
            await idempotency.record(conn, user_id=user_id, scope=CREATE_SCOPE, key=idempotency_key,
                                     resource_id=row["id"])
    log.info("step-up challenge started", extra={"challenge_id": row["id"], "user_id": user_id,
                                                  "conversation_id": conversation_id, "factor": chosen.value})
    return _shown(row, on_file, settings)


async def _create(conn: Conn, settings: Settings, *, user_id: int, conversation_id: str, factor: Factor,
                  on_file: OnFile, now: datetime) -> dict[str, Any]:
    """Stores the challenge (its code as a salted HMAC) and sends the code, in the caller's transaction: a code
    that cannot be sent leaves no challenge behind."""
    to, masked = on_file[factor]
    code = None if factor is Factor.totp else codes.new_code()
    salt, code_hash = codes.seal(codes.hmac_key(settings), code) if code is not None else (None, None)
    row = await (await conn.execute(Q.create_challenge, {
        "user_id": user_id, "conversation_id": conversation_id, "factor": factor.value, "destination": masked,
        "code_salt": salt, "code_hash": code_hash, "now": now,
        "expires_at": now + timedelta(seconds=settings.stepup.code_ttl_s)})).fetchone()
    assert row is not None
    if code is not None and to is not None:
        await delivery.send(settings, factor=factor, to=to, masked=masked, code=code, challenge_id=row["id"])
    return dict(row)


async def verify(conn: Conn, settings: Settings, *, user_id: int, conversation_id: str, challenge_id: int,
                 code: str, clock: Clock = utcnow) -> Proof:
    """Checks the code of a challenge; the proof of a pass, or an error.

    Raises NotFound (not this employee's challenge in this conversation), ChallengeUsed, ChallengeExpired,
    WrongCode (with ``attempts_left``), StepUpLocked. A wrong code is counted (and a lockout recorded, with its
    ticket) before the error is raised.
    """
    async with conn.transaction():
        outcome = await _attempt(conn, settings, user_id=user_id, conversation_id=conversation_id,
                                 challenge_id=challenge_id, code=code, now=clock())
    if isinstance(outcome, DeskmateError):
        raise outcome
    log.info("step-up passed", extra={"challenge_id": challenge_id, "user_id": user_id,
                                      "conversation_id": conversation_id, "factor": outcome.factor.value})
    return outcome


async def _attempt(conn: Conn, settings: Settings, *, user_id: int, conversation_id: str, challenge_id: int,
                   code: str, now: datetime) -> Proof | DeskmateError:
    """One verification under the employee's row lock: the proof, or the refusal to raise once it is stored."""
    state = await _refuse_if_locked(conn, user_id=user_id, now=now)
    row = await (await conn.execute(Q.lock_challenge, {
        "id": challenge_id, "user_id": user_id, "conversation_id": conversation_id})).fetchone()
    if row is None:
        raise NotFound("No such identity check in this conversation.")
    if row["verified_at"] is not None:
        raise ChallengeUsed("This code was already used; ask for a new one.")
    if row["expires_at"] <= now:
        raise ChallengeExpired("This code has expired; ask for a new one.")
    if await _code_is_right(conn, settings, row, code, now=now):
        await conn.execute(Q.mark_verified, {"id": challenge_id, "now": now})
        await conn.execute(Q.set_failures, {"user_id": user_id, "failures": 0, "now": now})
        return _proof(row, verified_at=now, settings=settings)
    return await _wrong(conn, settings, row, failures=state["failures"] + 1, now=now)


async def _code_is_right(conn: Conn, settings: Settings, row: dict[str, Any], code: str, *, now: datetime) -> bool:
    typed = codes.normalise(code)
    if typed is None:
        return False
    if row["factor"] != Factor.totp:
        return codes.matches(codes.hmac_key(settings), bytes(row["code_salt"]), bytes(row["code_hash"]), typed)
    app = await (await conn.execute(Q.lock_totp, {"user_id": row["user_id"]})).fetchone()
    if app is None:  # the authenticator was removed since the challenge started
        return False
    step = codes.totp_step(crypto.decrypt(settings, app["secret_encrypted"]), typed, at=now,
                           used_up_to=app["last_step"])
    if step is None:
        return False
    await conn.execute(Q.use_totp_step, {"user_id": row["user_id"], "step": step})
    return True


async def _wrong(conn: Conn, settings: Settings, row: dict[str, Any], *, failures: int,
                 now: datetime) -> DeskmateError:
    """Counts a wrong code; at the limit, locks step-up and opens the takeover ticket (once: under the row lock)."""
    user_id, left = row["user_id"], settings.stepup.max_failures - failures
    if left > 0:
        await conn.execute(Q.set_failures, {"user_id": user_id, "failures": failures, "now": now})
        return WrongCode(f"That code is not right; {left} attempt(s) left.", attempts_left=left)
    until = now + timedelta(minutes=settings.stepup.lock_minutes)
    ticket_id = await _takeover_ticket(conn, settings, row, failures=failures, until=until)
    await conn.execute(Q.lock_out, {"user_id": user_id, "locked_until": until, "ticket_id": ticket_id, "now": now})
    log.warning("step-up locked: possible account takeover", extra={
        "user_id": user_id, "conversation_id": str(row["conversation_id"]), "ticket_id": ticket_id})
    return StepUpLocked("Too many wrong codes: the identity check is locked for now. The service desk has been told "
                        "and will contact you.", retry_after_s=math.ceil((until - now).total_seconds()))


async def _system_principal(conn: Conn) -> Principal:
    """The step-up system actor, with admin rights inside the process (it has no token)."""
    row = await (await conn.execute(Q.system_user)).fetchone()
    if row is None:
        raise NotFound("The step-up system user is missing; run the migrations.")
    return Principal(id=row["id"], email=row["email"], name=row["name"], role=Role.admin)


async def _takeover_ticket(conn: Conn, settings: Settings, row: dict[str, Any], *, failures: int,
                           until: datetime) -> int:
    """Opens the high-priority "possible account takeover" ticket; its requester is the system actor, so the
    session under suspicion can neither see nor cancel it. Routed like any ticket."""
    system = await _system_principal(conn)
    employee = await (await conn.execute(Q.factors_on_file, {"user_id": row["user_id"]})).fetchone()
    assert employee is not None
    wanted = settings.stepup.takeover_category
    category = wanted if wanted in {c.slug for c in await tickets.list_categories(conn)} else None
    conversation_id = str(row["conversation_id"])
    ticket, _ = await tickets.create(conn, principal=system, data=TicketCreate(
        title=f"Possible account takeover: {employee['name']} <{employee['email']}>"[:200],
        description=(f"{failures} wrong verification codes in a row for {employee['name']} <{employee['email']}> "
                     f"in chat conversation {conversation_id} (factor: {row['factor']}). The identity check is "
                     f"locked until {until:%Y-%m-%d %H:%M %Z}. Contact the employee through a channel you trust "
                     "before any password reset or unlock: someone else may be using their session."),
        type=TicketType.incident, category=category, urgency=1, impact=2, source_type=SourceType.CHATBOT,
        source_reference=conversation_id,
        integration_metadata={"flag": TAKEOVER_FLAG, "affected_user_id": row["user_id"],
                              "conversation_id": conversation_id, "locked_until": until.isoformat()}))
    return ticket.id


def _proof(row: dict[str, Any], *, verified_at: datetime, settings: Settings,
           max_age: timedelta | None = None) -> Proof:
    age = max_age or timedelta(seconds=settings.stepup.proof_max_age_s)
    return Proof(challenge_id=row["id"], user_id=row["user_id"],
                 conversation_id=row["conversation_id"], factor=row["factor"], verified_at=verified_at,
                 valid_until=verified_at + age)


async def recent(conn: Conn, settings: Settings, *, user_id: int, conversation_id: str,
                 max_age: timedelta | None = None, clock: Clock = utcnow) -> Proof | None:
    """The employee's pass in this conversation within ``max_age`` (default DESKMATE_STEPUP_PROOF_MAX_AGE_S),
    or None; never while step-up is locked for them."""
    now = clock()
    age = max_age or timedelta(seconds=settings.stepup.proof_max_age_s)
    row = await (await conn.execute(Q.recent_pass, {
        "user_id": user_id, "conversation_id": conversation_id, "since": now - age, "now": now})).fetchone()
    return None if row is None else _proof(dict(row), verified_at=row["verified_at"], settings=settings, max_age=age)


async def locked(conn: Conn, *, user_id: int, clock: Clock = utcnow) -> bool:
    """Whether step-up is locked for the employee now (too many wrong codes)."""
    row = await (await conn.execute(Q.locked_until, {"user_id": user_id})).fetchone()
    return row is not None and row["locked_until"] is not None and row["locked_until"] > clock()


async def require_recent(conn: Conn, settings: Settings, *, user_id: int, conversation_id: str,
                         max_age: timedelta | None = None, clock: Clock = utcnow) -> Proof:
    """What the workflow engine asks before a sensitive step: the recent pass, or StepUpRequired."""
    proof = await recent(conn, settings, user_id=user_id, conversation_id=conversation_id, max_age=max_age,
                         clock=clock)
    if proof is None:
        raise StepUpRequired("Confirm it is you first: ask for a verification code.")
    return proof


async def enroll_totp(conn: Conn, settings: Settings, *, user_id: int) -> str:
    """Enrols a new authenticator app for the employee (replacing any other); returns its secret, to show once
    (as a QR code of ``pyotp.TOTP(secret).provisioning_uri(...)``). The stored copy is encrypted."""
    secret = codes.new_totp_secret()
    await conn.execute(Q.enroll_totp, {"user_id": user_id, "secret_encrypted": crypto.encrypt(settings, secret)})
    return secret


async def open_challenge(conn: Conn, *, conversation_id: str, clock: Clock = utcnow) -> dict[str, Any] | None:
    """The conversation's newest challenge started within ``OPEN_FOR`` (``id``, ``user_id``, ``used``: passed
    already, ``expired``), or None. Passed and expired ones count: a late or repeated code is a code too."""
    now = clock()
    row = await (await conn.execute(Q.open_challenge, {
        "conversation_id": conversation_id, "since": now - OPEN_FOR, "now": now})).fetchone()
    return None if row is None else dict(row)


def redact(text: str) -> str:
    """``text`` with every code-shaped run (six digits, one space or dash allowed) replaced by ``REDACTED``."""
    return _CODE_IN_TEXT.sub(REDACTED, text)


def code_in(text: str) -> str | None:
    """The one code-shaped run in ``text`` (``"it's 123 456"`` → ``"123 456"``); None for none or several."""
    found = _CODE_IN_TEXT.findall(text)
    return found[0] if len(found) == 1 else None


async def transcript_text(conn: Conn, *, conversation_id: str, text: str, clock: Clock = utcnow) -> str:
    """What the transcript keeps of a user's message: while a challenge of the conversation is open
    (``open_challenge``), anything shaped like a code is replaced by ``REDACTED``."""
    if not _CODE_IN_TEXT.search(text):
        return text
    return redact(text) if await open_challenge(conn, conversation_id=conversation_id, clock=clock) else text
