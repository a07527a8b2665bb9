"""Step-up identity check (issue #11): codes by SMS (Twilio SDK → fake), e-mail (aiosmtpd) and TOTP (pyotp); expiry,
single use, hashed at rest, rate limits, lockout with exactly one takeover ticket, and no code in logs or tables."""

from __future__ import annotations

import asyncio
import logging

import psycopg
import pyotp
import pytest
from psycopg.rows import dict_row
from pydantic import SecretStr, ValidationError
from stepup_support import Clock, code_in, employee_in_chat, phone, rasa_echo, rows_with

from api import crypto
from api.auth import assertions
from api.auth.models import Role
from api.channels import Channel
from api.chat import service as chat
from api.errors import TooManyRequests
from api.settings import Settings
from api.stepup import service as stepup
from api.stepup.models import Factor
from api.stepup.service import ChallengeExpired, ChallengeUsed, StepUpLocked, StepUpRequired, WrongCode
from api.stepup.settings import StepUpSettings


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


async def _ticket_rows(conn, conversation_id: str) -> list[dict]:  # type: ignore[no-untyped-def]
    return list(await (await conn.execute(
        "SELECT t.*, c.slug AS category, u.email AS requester FROM tickets t JOIN users u ON u.id = t.requester_id "
        "LEFT JOIN categories c ON c.id = t.category_id WHERE t.source_reference = %s", (conversation_id,))).fetchall())


async def test_an_sms_code_reaches_the_phone_on_file_and_passes_once(conn, make_actor, delivery_settings, twilio):
    mobile = phone()
    actor, conv = await employee_in_chat(conn, make_actor, mobile=mobile)
    clock = Clock()

    challenge = await stepup.start(conn, delivery_settings, user_id=actor.user.id, conversation_id=conv, clock=clock)
    [sms] = twilio.fake.messages
    code = code_in(sms.body)
    proof = await stepup.verify(conn, delivery_settings, user_id=actor.user.id, conversation_id=conv,
                                challenge_id=challenge.id, code=f"{code[:3]} {code[3:]}", clock=clock)

    assert (challenge.factor, sms.to) == (Factor.sms, mobile)
    assert challenge.destination == f"+15 •••• ••{mobile[-2:]}" and mobile not in challenge.model_dump_json()
    assert challenge.message == f"A code was sent to {challenge.destination}. It expires in 5 minutes."
    assert {f.factor for f in challenge.available} == {Factor.sms, Factor.email}
    assert code not in challenge.model_dump_json()
    assert (proof.challenge_id, proof.user_id, str(proof.conversation_id)) == (challenge.id, actor.user.id, conv)
    assert await stepup.require_recent(conn, delivery_settings, user_id=actor.user.id, conversation_id=conv,
                                       clock=clock) == proof
    with pytest.raises(ChallengeUsed):
        await stepup.verify(conn, delivery_settings, user_id=actor.user.id, conversation_id=conv,
                            challenge_id=challenge.id, code=code, clock=clock)


def test_production_needs_a_key_for_the_code_hmacs():
    own_keys = {"env": "production", "database_url": "postgresql://x/y", "session_keys": "k" * 40,
                "encryption_keys": "e" * 44, "assertion_key": "a" * 40, "rasa_channel_secret": "c" * 40,
                "actions_secret": "s" * 40, "_env_file": None}
    with pytest.raises(ValidationError, match="DESKMATE_STEPUP_KEY"):
        Settings(**own_keys)
    ok = Settings(**own_keys, stepup=StepUpSettings(key=SecretStr("h" * 40), _env_file=None),
                  workflow_approval_key="w" * 40)
    assert stepup.codes.hmac_key(ok) == b"h" * 40


async def test_the_code_is_stored_only_as_a_salted_hmac(conn, make_actor, delivery_settings, twilio):
    actor, conv = await employee_in_chat(conn, make_actor, mobile=phone())
    first = await stepup.start(conn, delivery_settings, user_id=actor.user.id, conversation_id=conv)
    second = await stepup.start(conn, delivery_settings, user_id=actor.user.id, conversation_id=conv)
    codes = [code_in(m.body) for m in twilio.fake.messages]

    rows = {r["id"]: r for r in await (await conn.execute(
        "SELECT * FROM stepup_challenges WHERE user_id = %s", (actor.user.id,))).fetchall()}

    for challenge, code in zip((first, second), codes, strict=True):
        row = rows[challenge.id]
        assert len(row["code_hash"]) == 32 and len(row["code_salt"]) == 16
        assert code.encode() not in bytes(row["code_hash"]) and code not in str(dict(row))
        assert stepup.codes.matches(stepup.codes.hmac_key(delivery_settings), bytes(row["code_salt"]),
                                    bytes(row["code_hash"]), code)
    assert rows[first.id]["code_salt"] != rows[second.id]["code_salt"]


async def test_an_email_code_reaches_the_address_on_file(conn, make_actor, delivery_settings, smtp):
    actor, conv = await employee_in_chat(conn, make_actor)

    challenge = await stepup.start(conn, delivery_settings, user_id=actor.user.id, conversation_id=conv,
                                   factor=Factor.email)
    [mail] = smtp.sink.received
    code = code_in(mail.message.get_content())
    proof = await stepup.verify(conn, delivery_settings, user_id=actor.user.id, conversation_id=conv,
                                challenge_id=challenge.id, code=code)

    assert mail.rcpt_tos == [actor.user.email] and code not in mail.message["Subject"]
    local, domain = actor.user.email.split("@")
    assert challenge.destination == f"{local[:2]}•••@{domain}"
    assert proof.factor is Factor.email


async def test_an_enrolled_authenticator_is_preferred_and_a_code_is_never_accepted_twice(
        conn, make_actor, settings, twilio):
    actor, conv = await employee_in_chat(conn, make_actor, mobile=phone())
    secret = await stepup.enroll_totp(conn, settings, user_id=actor.user.id)
    clock = Clock()
    code = pyotp.TOTP(secret).at(clock.now)

    first = await stepup.start(conn, settings, user_id=actor.user.id, conversation_id=conv, clock=clock)
    await stepup.verify(conn, settings, user_id=actor.user.id, conversation_id=conv, challenge_id=first.id,
                        code=code, clock=clock)
    replay = await stepup.start(conn, settings, user_id=actor.user.id, conversation_id=conv, clock=clock)
    with pytest.raises(WrongCode):
        await stepup.verify(conn, settings, user_id=actor.user.id, conversation_id=conv, challenge_id=replay.id,
                            code=code, clock=clock)
    clock.advance(seconds=30)
    await stepup.verify(conn, settings, user_id=actor.user.id, conversation_id=conv, challenge_id=replay.id,
                        code=pyotp.TOTP(secret).at(clock.now), clock=clock)

    assert (first.factor, first.destination, twilio.fake.messages) == (Factor.totp, "authenticator app", [])
    [stored] = await (await conn.execute("SELECT secret_encrypted FROM stepup_totp WHERE user_id = %s",
                                         (actor.user.id,))).fetchall()
    assert secret not in stored["secret_encrypted"]
    assert crypto.decrypt(settings, stored["secret_encrypted"]) == secret
    assert crypto.Column("stepup_totp", "user_id", "secret_encrypted") in crypto.ENCRYPTED_COLUMNS


async def test_a_code_expires_after_five_minutes(conn, make_actor, delivery_settings, twilio):
    actor, conv = await employee_in_chat(conn, make_actor, mobile=phone())
    clock = Clock()
    challenge = await stepup.start(conn, delivery_settings, user_id=actor.user.id, conversation_id=conv, clock=clock)
    code = code_in(twilio.fake.messages[0].body)

    clock.advance(seconds=300)
    with pytest.raises(ChallengeExpired):
        await stepup.verify(conn, delivery_settings, user_id=actor.user.id, conversation_id=conv,
                            challenge_id=challenge.id, code=code, clock=clock)

    state = await (await conn.execute("SELECT failures FROM stepup_users WHERE user_id = %s",
                                      (actor.user.id,))).fetchone()
    assert state["failures"] == 0  # an expired code is refused, not counted against the employee
    assert await stepup.recent(conn, delivery_settings, user_id=actor.user.id, conversation_id=conv,
                               clock=clock) is None


async def test_a_proof_is_only_for_its_conversation_and_goes_stale(conn, make_actor, settings):
    actor, conv = await employee_in_chat(conn, make_actor)
    other = str(await chat.start(conn, channel=Channel.web, employee=actor.user, channel_user=None))
    secret = await stepup.enroll_totp(conn, settings, user_id=actor.user.id)
    clock = Clock()
    challenge = await stepup.start(conn, settings, user_id=actor.user.id, conversation_id=conv, clock=clock)
    await stepup.verify(conn, settings, user_id=actor.user.id, conversation_id=conv, challenge_id=challenge.id,
                        code=pyotp.TOTP(secret).at(clock.now), clock=clock)

    with pytest.raises(StepUpRequired):
        await stepup.require_recent(conn, settings, user_id=actor.user.id, conversation_id=other, clock=clock)
    clock.advance(seconds=settings.stepup.proof_max_age_s + 1)
    with pytest.raises(StepUpRequired):
        await stepup.require_recent(conn, settings, user_id=actor.user.id, conversation_id=conv, clock=clock)


async def test_starting_is_rate_limited_per_conversation_and_per_employee(conn, make_actor, settings):
    limited = settings.model_copy(update={"stepup": settings.stepup.model_copy(
        update={"per_conversation": 2, "per_user": 4})})
    actor = await make_actor(Role.employee)
    await stepup.enroll_totp(conn, limited, user_id=actor.user.id)
    convs = [str(await chat.start(conn, channel=Channel.web, employee=actor.user, channel_user=None))
             for _ in range(3)]

    async def start(conv: str):  # type: ignore[no-untyped-def]
        return await stepup.start(conn, limited, user_id=actor.user.id, conversation_id=conv)

    await start(convs[0]), await start(convs[0])
    with pytest.raises(TooManyRequests, match="this conversation") as per_conversation:
        await start(convs[0])
    await start(convs[1]), await start(convs[1])
    with pytest.raises(TooManyRequests, match="short time") as per_user:
        await start(convs[2])

    assert 1 <= int(per_conversation.value.headers["Retry-After"]) <= limited.stepup.window_s
    assert 1 <= int(per_user.value.headers["Retry-After"]) <= limited.stepup.window_s


async def test_five_wrong_codes_lock_step_up_and_open_one_takeover_ticket(conn, make_actor, delivery_settings, twilio):
    actor, conv = await employee_in_chat(conn, make_actor, mobile=phone())
    clock = Clock()
    challenge = await stepup.start(conn, delivery_settings, user_id=actor.user.id, conversation_id=conv, clock=clock)
    code = code_in(twilio.fake.messages[0].body)

    left = []
    for _ in range(4):
        with pytest.raises(WrongCode) as wrong:
            await stepup.verify(conn, delivery_settings, user_id=actor.user.id, conversation_id=conv,
                                challenge_id=challenge.id, code=_wrong(code), clock=clock)
        left.append(wrong.value.extra["attempts_left"])
    with pytest.raises(StepUpLocked) as locked:
        await stepup.verify(conn, delivery_settings, user_id=actor.user.id, conversation_id=conv,
                            challenge_id=challenge.id, code=_wrong(code), clock=clock)
    with pytest.raises(StepUpLocked):  # even the right code, while locked
        await stepup.verify(conn, delivery_settings, user_id=actor.user.id, conversation_id=conv,
                            challenge_id=challenge.id, code=code, clock=clock)
    with pytest.raises(StepUpLocked):
        await stepup.start(conn, delivery_settings, user_id=actor.user.id, conversation_id=conv, clock=clock)

    assert left == [4, 3, 2, 1]
    assert locked.value.headers["Retry-After"] == str(30 * 60)
    [ticket] = await _ticket_rows(conn, conv)
    assert ticket["integration_metadata"]["flag"] == "possible_account_takeover"
    assert ticket["integration_metadata"]["affected_user_id"] == actor.user.id
    assert (ticket["priority"], ticket["category"], ticket["source_type"]) == (2, "accounts", "CHATBOT")
    assert ticket["requester"] == "stepup@deskmate.invalid" and actor.user.email in ticket["title"]
    assert code not in ticket["description"]
    clock.advance(minutes=31)
    again = await stepup.start(conn, delivery_settings, user_id=actor.user.id, conversation_id=conv, clock=clock)
    assert again.id != challenge.id and len(await _ticket_rows(conn, conv)) == 1


async def test_concurrent_wrong_codes_at_the_limit_open_exactly_one_ticket(
        conn, make_actor, delivery_settings, twilio, database_url):
    actor, conv = await employee_in_chat(conn, make_actor, mobile=phone())
    challenge = await stepup.start(conn, delivery_settings, user_id=actor.user.id, conversation_id=conv)
    wrong = _wrong(code_in(twilio.fake.messages[0].body))
    for _ in range(3):
        with pytest.raises(WrongCode):
            await stepup.verify(conn, delivery_settings, user_id=actor.user.id, conversation_id=conv,
                                challenge_id=challenge.id, code=wrong)

    async def attempt() -> str:
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True, row_factory=dict_row) as c:
            try:
                await stepup.verify(c, delivery_settings, user_id=actor.user.id, conversation_id=conv,
                                    challenge_id=challenge.id, code=wrong)
            except (WrongCode, StepUpLocked) as exc:
                return type(exc).__name__
            return "passed"

    outcomes = await asyncio.gather(*(attempt() for _ in range(4)))

    assert sorted(outcomes) == ["StepUpLocked"] * 3 + ["WrongCode"]
    assert len(await _ticket_rows(conn, conv)) == 1


async def test_the_code_appears_in_no_log_and_no_table(conn, app, make_actor, delivery_settings, twilio, caplog):
    caplog.set_level(logging.DEBUG)
    actor, conv = await employee_in_chat(conn, make_actor, mobile=phone())
    rasa, seen = rasa_echo()
    await stepup.start(conn, delivery_settings, user_id=actor.user.id, conversation_id=conv, idempotency_key="k-1")
    code = code_in(twilio.fake.messages[0].body)
    turn = await chat.post_message(app.state.pool, delivery_settings, rasa, conversation_id=conv, text=f"it's {code}")
    again = await stepup.start(conn, delivery_settings, user_id=actor.user.id, conversation_id=conv)
    for _ in range(5):  # wrong codes up to the lockout and its ticket
        with pytest.raises((WrongCode, StepUpLocked)):
            await stepup.verify(conn, delivery_settings, user_id=actor.user.id, conversation_id=conv,
                                challenge_id=again.id, code=_wrong(code))
    await rasa.aclose()

    logged = [(r.name, r.getMessage(), str(r.__dict__)) for r in caplog.records if not r.name.startswith("mail")]
    found, read = await rows_with(conn, code, user_id=actor.user.id, conversation_id=conv)

    assert turn.messages and [body["message"] for body in seen] == ["/stepup_passed"]  # checked by the gateway
    history = await chat.transcript(conn, conversation_id=conv)
    assert [m.text for m in history if m.direction == "user"] == ["it's •••••• (verification code)"]
    assert any("step-up" in message for _, message, _ in logged)
    assert [entry for entry in logged if code in entry[1] or code in entry[2]] == []
    assert found == {} and read >= 8  # challenge, state, message(s), ticket, events, key, rate limits, job


async def test_a_code_shaped_message_stays_as_typed_when_no_challenge_waits(conn, make_actor, settings):
    _, conv = await employee_in_chat(conn, make_actor)

    kept = await stepup.transcript_text(conn, conversation_id=conv, text="my desk number is 123456")

    assert kept == "my desk number is 123456"


# ------------------------------------------------------------------ the api, as the action server calls it

def _bot(settings, service, actor, conv: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """The action server's headers in a turn of ``actor``'s conversation ``conv``."""
    token = assertions.mint(settings, subject=actor.user.email, conversation_id=conv)
    return service.headers | {"X-Deskmate-Assertion": token}


async def test_the_api_starts_and_verifies_for_the_asserted_employee(client, conn, make_actor, settings):
    service = await make_actor(Role.service)
    actor, conv = await employee_in_chat(conn, make_actor)
    secret = await stepup.enroll_totp(conn, settings, user_id=actor.user.id)
    headers = _bot(settings, service, actor, conv)

    created = await client.post("/api/v1/stepup/challenges", json={}, headers=headers | {"Idempotency-Key": "a"})
    replayed = await client.post("/api/v1/stepup/challenges", json={}, headers=headers | {"Idempotency-Key": "a"})
    cid = created.json()["id"]
    wrong = await client.post(f"/api/v1/stepup/challenges/{cid}/verify", json={"code": "000000"}, headers=headers)
    if pyotp.TOTP(secret).verify("000000", valid_window=1):  # one in ~300k: the wrong code is the right one
        pytest.skip("000000 happens to be the authenticator's code")
    right = await client.post(f"/api/v1/stepup/challenges/{cid}/verify", json={"code": pyotp.TOTP(secret).now()},
                              headers=headers)
    used = await client.post(f"/api/v1/stepup/challenges/{cid}/verify", json={"code": pyotp.TOTP(secret).now()},
                             headers=headers)

    assert created.status_code == 201, created.text
    assert created.json()["factor"] == "totp" and replayed.json()["id"] == cid
    assert wrong.status_code == 422 and wrong.headers["content-type"] == "application/problem+json"
    assert (wrong.json()["type"], wrong.json()["attempts_left"]) == ("/problems/stepup-wrong-code", 4)
    assert right.status_code == 200, right.text
    assert (right.json()["challenge_id"], right.json()["user_id"]) == (cid, actor.user.id)
    assert used.status_code == 409 and used.json()["type"] == "/problems/stepup-used"


async def test_the_api_refuses_callers_without_the_turns_assertion(client, conn, make_actor, settings):
    service = await make_actor(Role.service)
    actor, conv = await employee_in_chat(conn, make_actor)
    stranger, _ = await employee_in_chat(conn, make_actor)

    bare = await client.post("/api/v1/stepup/challenges", json={}, headers=service.headers)
    own_token = await client.post("/api/v1/stepup/challenges", json={}, headers=actor.headers)
    someone_elses = await client.post("/api/v1/stepup/challenges", json={}, headers=_bot(settings, service, stranger, conv))
    extra = await client.post("/api/v1/stepup/challenges", json={"user_id": 1}, headers=_bot(settings, service, actor, conv))

    assert bare.status_code == own_token.status_code == someone_elses.status_code == 403
    assert extra.status_code == 422
    count = await (await conn.execute("SELECT count(*) AS n FROM stepup_challenges WHERE user_id = %s",
                                      (actor.user.id,))).fetchone()
    assert count["n"] == 0


async def test_the_api_answers_problems_with_retry_after_and_never_the_full_number(client, conn, make_actor, settings):
    service = await make_actor(Role.service)
    mobile = phone()
    actor, conv = await employee_in_chat(conn, make_actor, mobile=mobile)
    headers = _bot(settings, service, actor, conv)

    undeliverable = await client.post("/api/v1/stepup/challenges", json={"factor": "sms"}, headers=headers)
    statuses = [(await client.post("/api/v1/stepup/challenges", json={"factor": "totp"}, headers=headers)).status_code]
    await stepup.enroll_totp(conn, settings, user_id=actor.user.id)
    for _ in range(4):
        r = await client.post("/api/v1/stepup/challenges", json={}, headers=headers)
        statuses.append(r.status_code)

    assert undeliverable.status_code == 502 and undeliverable.json()["type"] == "/problems/stepup-delivery"
    assert mobile not in undeliverable.text and mobile[-2:] in undeliverable.json()["detail"]
    assert statuses == [409, 201, 201, 201, 429]  # no authenticator yet; then three per conversation
    assert int(r.headers["Retry-After"]) >= 1 and r.json()["type"] == "/problems/rate-limited"
