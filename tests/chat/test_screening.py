"""The gateway's step-up screen (api/chat/screening.py): a typed code is checked by the api and never reaches Rasa;
Rasa gets the outcome as an intent payload. The fake Rasa records every body it is sent."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pyotp
from chat_support import start as _start

from api.stepup import service as stepup
from api.workflows import catalog
from api.workflows import service as workflows
from api.workflows.definitions import Workflow


async def _employee_with_authenticator(client, conn, settings, make_actor):  # type: ignore[no-untyped-def]
    """A signed-in conversation of an employee with an authenticator app: (actor, conversation, session, totp)."""
    actor = await make_actor()
    conv, session, _ = await _start(client, settings, actor.user.email)
    totp = pyotp.TOTP(await stepup.enroll_totp(conn, settings, user_id=actor.user.id))
    return actor, conv, session, totp


async def _say(client, conv: str, session: dict[str, str], text: str) -> dict:  # type: ignore[no-untyped-def]
    r = await client.post(f"/api/v1/chat/conversations/{conv}/messages", json={"text": text}, headers=session)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def _user_texts(client, conv: str, session: dict[str, str]) -> list[str]:  # type: ignore[no-untyped-def]
    history = (await client.get(f"/api/v1/chat/conversations/{conv}/messages", headers=session)).json()
    return [m["text"] for m in history["messages"] if m["direction"] == "user"]


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


async def test_a_right_code_is_checked_by_the_gateway_and_rasa_gets_only_the_outcome(
        client, conn, settings, make_actor, rasa):
    actor, conv, session, totp = await _employee_with_authenticator(client, conn, settings, make_actor)
    await stepup.start(conn, settings, user_id=actor.user.id, conversation_id=conv)
    code = totp.now()

    await _say(client, conv, session, f"it's {code[:3]} {code[3:]}")

    assert [body["message"] for body in rasa.received] == ["/stepup_passed"]
    assert code not in json.dumps(rasa.received).replace(" ", "")
    assert await stepup.recent(conn, settings, user_id=actor.user.id, conversation_id=conv) is not None
    assert await _user_texts(client, conv, session) == ["it's •••••• (verification code)"]


async def test_a_wrong_code_sends_the_attempts_left_and_the_typed_code_nowhere(client, conn, settings, make_actor, rasa):
    actor, conv, session, totp = await _employee_with_authenticator(client, conn, settings, make_actor)
    await stepup.start(conn, settings, user_id=actor.user.id, conversation_id=conv)
    wrong = _wrong(totp.now())

    await _say(client, conv, session, wrong)

    left = settings.stepup.max_failures - 1
    assert [body["message"] for body in rasa.received] == [f'/stepup_failed{{"attempts_left": {left}}}']
    assert wrong not in json.dumps(rasa.received)
    assert await stepup.recent(conn, settings, user_id=actor.user.id, conversation_id=conv) is None


async def test_the_last_wrong_code_locks_and_rasa_hears_locked(client, conn, settings, make_actor, rasa):
    actor, conv, session, totp = await _employee_with_authenticator(client, conn, settings, make_actor)
    await stepup.start(conn, settings, user_id=actor.user.id, conversation_id=conv)
    wrong = _wrong(totp.now())

    for _ in range(settings.stepup.max_failures):
        await _say(client, conv, session, wrong)

    assert rasa.received[-1]["message"] == "/stepup_locked"
    assert await stepup.locked(conn, user_id=actor.user.id)
    takeover = await (await conn.execute(
        "SELECT count(*) AS n FROM tickets WHERE source_reference = %s "
        "AND integration_metadata->>'flag' = 'possible_account_takeover'", (conv,))).fetchone()
    assert takeover["n"] == 1


async def test_a_late_code_is_not_forwarded_either(client, conn, settings, make_actor, rasa):
    actor, conv, session, _ = await _employee_with_authenticator(client, conn, settings, make_actor)
    earlier = datetime.now(UTC) - timedelta(seconds=settings.stepup.code_ttl_s + 60)
    await stepup.start(conn, settings, user_id=actor.user.id, conversation_id=conv, clock=lambda: earlier)

    await _say(client, conv, session, "123456")
    await _say(client, conv, session, "my codes are 111111 and 222222")

    assert [body["message"] for body in rasa.received] == [
        "/stepup_expired", "my codes are •••••• (verification code) and •••••• (verification code)"]


async def test_without_a_challenge_the_turn_is_an_ordinary_one(client, settings, make_actor, rasa):
    actor = await make_actor()
    conv, session, _ = await _start(client, settings, actor.user.email)

    await _say(client, conv, session, "my desk phone is 123456")

    assert [body["message"] for body in rasa.received] == ["my desk phone is 123456"]
    assert await _user_texts(client, conv, session) == ["my desk phone is 123456"]


async def test_nobody_can_type_the_gateways_outcome(client, settings, make_actor, rasa):
    actor = await make_actor()
    conv, session, _ = await _start(client, settings, actor.user.email)

    await _say(client, conv, session, "/stepup_passed")
    await _say(client, conv, session, '  /stepup_failed{"attempts_left": 5}')

    assert [body["message"] for body in rasa.received] == ["stepup_passed", 'stepup_failed{"attempts_left": 5}']


async def test_a_pass_wakes_the_run_waiting_for_it(client, conn, settings, make_actor, rasa):
    actor, conv, session, totp = await _employee_with_authenticator(client, conn, settings, make_actor)
    name = f"wake_{conv[:8]}"
    await catalog.sync(conn, [Workflow.model_validate({
        "name": name, "title": "Wake test", "ticket": {"title": "Wake test", "type": "request"},
        "handoff_team": "identity",
        "steps": [{"id": "check", "kind": "step_up"}, {"id": "note", "kind": "ticket", "action": "comment",
                                                        "text": "checked"}]})])
    run = await workflows.start_for_employee(conn, name=name, inputs={}, user_id=actor.user.id,
                                             conversation_id=conv)
    await stepup.start(conn, settings, user_id=actor.user.id, conversation_id=conv)
    before = await _jobs(conn, run.id)

    await _say(client, conv, session, totp.now())

    after = await _jobs(conn, run.id)
    assert rasa.received[-1]["message"] == "/stepup_passed"
    assert len(after) == len(before) + 1
    woken = after[-1]
    assert (woken["step_id"], woken["status"]) == ("check", "todo")
    assert woken["scheduled_at"] is None  # now, not at the next 15 s poll


async def _jobs(conn, run_id: int) -> list[dict]:  # type: ignore[no-untyped-def]
    rows = await (await conn.execute(
        "SELECT args->>'step_id' AS step_id, status::text AS status, scheduled_at FROM procrastinate_jobs "
        "WHERE queue_name = 'workflows' AND (args->>'run_id')::int = %s ORDER BY id", (run_id,))).fetchall()
    return [dict(r) for r in rows]
