"""The wired engine end to end (issue #11): the real slapd (tests/fakes/slapd_server.py), the real worker, the real
step-up check with its code read from the SMTP server, through the chat-side start endpoint."""

from __future__ import annotations

import logging
import re
import uuid

from fakes.slapd_server import LAYOUT, PASSWORDS, Slapd, ldap_settings
from ldap3 import MODIFY_REPLACE
from pydantic import SecretStr
from workflows_support import events_of, run_worker, ticket_of

from api.auth import assertions
from api.auth.models import Role
from api.channels import Channel
from api.chat import service as chat
from api.integrations.ldap.client import LdapDirectory
from api.jobs import registry
from api.stepup import service as stepup
from api.stepup.models import Factor
from api.workflows import catalog, service, tasks  # noqa: F401 - tasks: its on_shutdown hook is registered by import
from api.workflows import runtime as runtimes

PASSWORD = "right-pw"


def _locked_account(slapd: Slapd, email: str) -> tuple[str, str]:
    """A directory account with ``email``, locked by failed binds (the policy locks after three); (uid, dn)."""
    uid = f"wf{uuid.uuid4().hex[:8]}"
    dn = LAYOUT.person(uid)
    admin = slapd.admin()
    try:
        admin.add(dn, ["inetOrgPerson"], {"uid": uid, "cn": uid, "sn": uid, "mail": email, "userPassword": PASSWORD})
    finally:
        admin.unbind()
    failed = [slapd.bind(dn, "wrong") for _ in range(3)]
    assert failed == [False] * 3 and not slapd.bind(dn, PASSWORD), "the account should be locked"
    return uid, dn


async def _make_due(conn, run_id: int) -> None:  # type: ignore[no-untyped-def]
    """The run's waiting step job becomes due now (instead of in 15 s): time moves, nobody sleeps."""
    await conn.execute("UPDATE procrastinate_jobs SET scheduled_at = now() WHERE lock = %s AND status = 'todo'",
                       (f"workflow-run-{run_id}",))


async def test_an_unlock_waits_for_step_up_then_unlocks_the_real_directory(client, conn, make_actor, wired, smtp,
                                                                          slapd):
    actor, bot = await make_actor(Role.employee), await make_actor(Role.service)
    conversation = str(await chat.start(conn, channel=Channel.web, employee=actor.user, channel_user=None))
    uid, dn = _locked_account(slapd, actor.user.email)
    turn = bot.headers | {"X-Deskmate-Assertion": assertions.mint(wired, subject=actor.user.email,
                                                                   conversation_id=conversation)}

    started = await client.post("/api/v1/workflows/account_unlock/runs", json={"inputs": {"username": uid}},
                                headers=turn | {"Idempotency-Key": f"unlock-{uid}"})
    again = await client.post("/api/v1/workflows/account_unlock/runs", json={"inputs": {"username": uid}},
                              headers=turn | {"Idempotency-Key": f"unlock-{uid}"})
    run_id = started.json()["id"]
    await run_worker(wired, conn)
    waiting = await client.get(f"/api/v1/workflows/account_unlock/runs/{run_id}", headers=turn)

    assert started.status_code == 201, started.text
    assert again.json()["id"] == run_id and started.json()["ticket_number"]
    assert (started.json()["status"], started.json()["current_step"]) == ("running", "username")
    assert waiting.json()["waiting_for_step_up"] is True and waiting.json()["status"] == "running"
    assert not slapd.bind(dn, PASSWORD), "nothing may change before the step-up check passed"

    challenge = await stepup.start(conn, wired, user_id=actor.user.id, conversation_id=conversation,
                                   factor=Factor.email)
    [mail] = [m for m in smtp.sink.received if m.rcpt_tos == [actor.user.email]]  # not what leftover jobs sent
    code = re.search(r"\b(\d{6})\b", mail.message.get_content())
    assert code
    await stepup.verify(conn, wired, user_id=actor.user.id, conversation_id=conversation, challenge_id=challenge.id,
                        code=code.group(1))
    await _make_due(conn, run_id)
    await run_worker(wired, conn)

    run = await service.get_run(conn, run_id=run_id)
    ticket = await ticket_of(conn, run_id)
    events = [e["after"] for e in await events_of(conn, ticket["id"]) if e["kind"] == "workflow_step"]
    done = await client.get(f"/api/v1/workflows/account_unlock/runs/{run_id}", headers=turn)
    assert slapd.bind(dn, PASSWORD), "the directory should let the employee sign in again"
    assert (run.status, run.verified, str(run.conversation_id)) == ("succeeded", True, conversation)
    assert (ticket["status"], ticket["resolution"]) == ("resolved", "auto")
    assert [(e["step"], e["status"]) for e in events] == [
        ("username", "succeeded"), ("find", "succeeded"), ("known", "succeeded"), ("step_up", "waiting"),
        ("step_up", "succeeded"), ("unlock", "succeeded"), ("verify", "succeeded"), ("resolve", "succeeded")]
    assert done.json()["status"] == "succeeded" and done.json()["verified"] is True
    assert code.group(1) not in run.model_dump_json() + str(events)


async def test_a_run_for_someone_elses_account_fails_step_up_and_leaves_it_locked(client, conn, make_actor, wired,
                                                                                 smtp, slapd):
    actor, owner = await make_actor(Role.employee), await make_actor(Role.employee)
    conversation = str(await chat.start(conn, channel=Channel.web, employee=actor.user, channel_user=None))
    uid, dn = _locked_account(slapd, owner.user.email)
    challenge = await stepup.start(conn, wired, user_id=actor.user.id, conversation_id=conversation,
                                   factor=Factor.email)
    code = re.search(r"\b(\d{6})\b", smtp.sink.received[0].message.get_content())
    assert code
    await stepup.verify(conn, wired, user_id=actor.user.id, conversation_id=conversation, challenge_id=challenge.id,
                        code=code.group(1))

    started = await service.start_for_employee(conn, name="account_unlock", inputs={"username": uid},
                                               user_id=actor.user.id, conversation_id=conversation)
    await run_worker(wired, conn)

    run = await service.get_run(conn, run_id=started.id)
    assert (run.status, run.verified) == ("failed", None) and "step-up" in (run.reason or "")
    assert not slapd.bind(dn, PASSWORD)


async def test_the_employee_reads_only_their_own_runs(client, conn, make_actor, wired, settings):
    actor, other, bot = (await make_actor(Role.employee), await make_actor(Role.employee),
                         await make_actor(Role.service))
    mine = str(await chat.start(conn, channel=Channel.web, employee=actor.user, channel_user=None))
    theirs = str(await chat.start(conn, channel=Channel.web, employee=other.user, channel_user=None))

    def turn(who, conversation):  # type: ignore[no-untyped-def]
        return bot.headers | {"X-Deskmate-Assertion": assertions.mint(settings, subject=who.user.email,
                                                                       conversation_id=conversation)}

    started = await client.post("/api/v1/workflows/account_unlock/runs", json={"inputs": {"username": "x"}},
                                headers=turn(actor, mine))
    run_id = started.json()["id"]
    own = await client.get(f"/api/v1/workflows/account_unlock/runs/{run_id}", headers=turn(actor, mine))
    other_employee = await client.get(f"/api/v1/workflows/account_unlock/runs/{run_id}", headers=turn(other, theirs))
    bare_token = await client.post("/api/v1/workflows/account_unlock/runs", json={"inputs": {"username": "x"}},
                                   headers=bot.headers)
    own_token = await client.post("/api/v1/workflows/account_unlock/runs", json={"inputs": {"username": "x"}},
                                  headers=actor.headers)
    unknown_input = await client.post("/api/v1/workflows/account_unlock/runs", json={"inputs": {"user": "x"}},
                                      headers=turn(actor, mine))
    extra = await client.post("/api/v1/workflows/account_unlock/runs", json={"inputs": {}, "requester_id": 1},
                              headers=turn(actor, mine))

    assert started.status_code == 201 and own.status_code == 200 and own.json()["id"] == run_id
    assert other_employee.status_code == 404
    assert bare_token.status_code == own_token.status_code == 403
    assert unknown_input.status_code == extra.status_code == 422


async def test_a_password_reset_sends_the_one_time_password_by_sms_only(conn, make_actor, wired, smtp, twilio, slapd,
                                                                         caplog):
    actor = await make_actor(Role.employee)
    conversation = str(await chat.start(conn, channel=Channel.web, employee=actor.user, channel_user=None))
    uid, dn = _locked_account(slapd, actor.user.email)
    mobile = f"+1555{uuid.uuid4().int % 10**7:07d}"
    admin = slapd.admin()
    try:
        admin.modify(dn, {"mobile": [(MODIFY_REPLACE, [mobile])]})
    finally:
        admin.unbind()
    challenge = await stepup.start(conn, wired, user_id=actor.user.id, conversation_id=conversation,
                                   factor=Factor.email)
    code = re.search(r"\b(\d{6})\b", smtp.sink.received[0].message.get_content())
    assert code
    await stepup.verify(conn, wired, user_id=actor.user.id, conversation_id=conversation, challenge_id=challenge.id,
                        code=code.group(1))

    with caplog.at_level(logging.DEBUG):
        started = await service.start_for_employee(conn, name="password_reset", inputs={"username": uid},
                                                   user_id=actor.user.id, conversation_id=conversation)
        await run_worker(wired, conn)

    [sms] = twilio.fake.messages
    sent = re.search(r"one-time password is (\S+)\.", sms.body)
    assert sent and sms.to == mobile
    password = sent.group(1)
    run = await service.get_run(conn, run_id=started.id)
    ticket = await ticket_of(conn, started.id)
    stored = run.model_dump_json() + str(await events_of(conn, ticket["id"])) + str(ticket) + str(
        await (await conn.execute("SELECT body FROM ticket_comments WHERE ticket_id = %s", (ticket["id"],))).fetchall())
    assert (run.status, run.verified, run.results["reset"]) == (
        "succeeded", True, {"must_change_password": True, "delivered_via": "sms",
                            "delivered_to": f"{mobile[:3]} •••• ••{mobile[-2:]}"})
    assert slapd.bind(dn, password), "the one-time password should open the account (which must change it)"
    assert password not in stored and password not in caplog.text


async def test_the_process_default_is_built_once_and_closed_when_the_worker_stops(settings, slapd):
    configured = settings.model_copy(update={
        "ldap": ldap_settings(slapd, bind_password=SecretStr(PASSWORDS["deskmate"]))})
    first, second = runtimes.current(configured), runtimes.current(configured)
    assert isinstance(first.directory, LdapDirectory)
    found = await first.directory.find_user(username="alice")  # leaves a bound connection in its pool
    held = len(first.directory._idle)

    await registry.shutdown()  # what the worker calls when it stops (api/workflows/tasks.py on_shutdown)

    assert first is second and found is not None and held == 1
    assert first.directory._idle == [] and runtimes.current(configured) is not first
    await runtimes.close_default()
