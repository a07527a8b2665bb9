"""``http`` steps against a real HTTP server on 127.0.0.1 (allowed by DESKMATE_OUTBOUND_ALLOW_PRIVATE, as the worker
settings of the tests do): the secret decrypted for the request only, the step's idempotency key on every attempt,
the answer used by a later step, transient failures retried, refusals stopping the run with a clear reason."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from http_api_support import HANG, ApiServer
from pydantic import SecretStr, ValidationError
from workflows_support import define, run_worker, ticket_of

from api import crypto
from api.integrations.outbound import OutboundSettings
from api.settings import Settings
from api.workflows import engine, service
from api.workflows.definitions import Workflow
from api.workflows.settings import EndpointSettings

SECRET = "itsm-" + "token-1234567890"
FLOW = {
    "name": "external", "title": "External", "inputs": {"username": {}},
    "ticket": {"title": "External {inputs.username}"}, "handoff_team": "identity",
    "steps": [
        {"id": "call", "kind": "http", "endpoint": "itsm", "method": "POST", "path": "/users/{inputs.username}/tickets",
         "body": {"user": "$inputs.username", "summary": "Locked out"}},
        {"id": "note", "kind": "ticket", "action": "comment",
         "text": "External ticket {steps.call.body.id} ({steps.call.status})"},
    ]}


@pytest.fixture
def external() -> Iterator[ApiServer]:
    with ApiServer() as server:
        yield server


def endpoints(settings, server: ApiServer, **changes: Any) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Worker settings overrides: the endpoint ``itsm`` at the server, its bearer token encrypted."""
    endpoint = EndpointSettings(url=server.url, auth="bearer", secret_encrypted=crypto.encrypt(settings, SECRET),
                                **changes)
    return {"workflow_endpoints": {"itsm": endpoint}}


async def _start(conn, employee, username: str = "j doe/x") -> int:  # type: ignore[no-untyped-def]
    name = await define(conn, FLOW)
    return await engine.start(conn, name=name, inputs={"username": username}, requester_id=employee.user.id)


async def test_an_http_step_calls_the_api_and_a_later_step_uses_its_answer(conn, settings, employee, external):
    external.api.answers.append((201, {"id": "EXT-7"}))
    run_id = await _start(conn, employee)
    await run_worker(settings, conn, **endpoints(settings, external))

    (request,) = external.api.requests
    assert (request.method, request.path) == ("POST", "/api/v2/users/j%20doe%2Fx/tickets")
    assert request.body == {"user": "j doe/x", "summary": "Locked out"}
    assert request.headers["authorization"] == f"Bearer {SECRET}"
    assert request.headers["idempotency-key"] == f"wf-{run_id}-call"
    run = await service.get_run(conn, run_id=run_id)
    assert run.status == "succeeded" and run.results["call"] == {"status": 201, "body": {"id": "EXT-7"}}
    ticket = await ticket_of(conn, run_id)
    comments = await (await conn.execute("SELECT body FROM ticket_comments WHERE ticket_id = %s ORDER BY id",
                                          (ticket["id"],))).fetchall()
    assert comments[0]["body"] == "External ticket EXT-7 (201)"
    stored = await (await conn.execute(
        "SELECT (SELECT count(*) FROM workflow_runs WHERE results::text LIKE %(p)s OR inputs::text LIKE %(p)s) "
        "+ (SELECT count(*) FROM workflow_steps WHERE result::text LIKE %(p)s OR error LIKE %(p)s) "
        "+ (SELECT count(*) FROM ticket_events WHERE after::text LIKE %(p)s) AS n", {"p": f"%{SECRET}%"})).fetchone()
    assert stored["n"] == 0


async def test_busy_answers_are_retried_with_the_same_idempotency_key(conn, settings, employee, external):
    external.api.answers += [(503, {"busy": True}), (429, {"slow": "down"}), (200, {"id": "EXT-8"})]
    run_id = await _start(conn, employee)
    await run_worker(settings, conn, **endpoints(settings, external))

    assert [r.headers["idempotency-key"] for r in external.api.requests] == [f"wf-{run_id}-call"] * 3
    run = await service.get_run(conn, run_id=run_id)
    call = next(s for s in run.steps if s.step_id == "call")
    assert (run.status, call.status, call.attempts) == ("succeeded", "succeeded", 3)


async def test_a_refusal_stops_the_run_at_once_with_the_apis_answer(conn, settings, employee, external):
    external.api.answers.append((404, {"error": "no such user"}))
    run_id = await _start(conn, employee)
    await run_worker(settings, conn, **endpoints(settings, external))

    assert len(external.api.requests) == 1
    run = await service.get_run(conn, run_id=run_id)
    assert run.status == "failed"
    assert run.reason is not None and run.reason.startswith("step 'call' failed: 127.0.0.1:")
    assert "answered 404 Not Found to POST /users/{inputs.username}/tickets" in run.reason
    assert "no such user" in run.reason
    assert (await ticket_of(conn, run_id))["team"] == "identity"


async def test_an_api_that_does_not_answer_in_time_stops_the_run_after_the_attempts(
        conn, settings, employee, external):
    external.api.answers += [HANG, HANG]
    run_id = await _start(conn, employee)
    await run_worker(settings, conn, workflow_step_attempts=2, **endpoints(settings, external, timeout_s=0.3))

    run = await service.get_run(conn, run_id=run_id)
    assert run.status == "failed" and len(external.api.requests) == 2
    assert run.reason is not None and run.reason.startswith("step 'call' failed after 2 attempts: no answer from 127.0.0.1:")
    assert run.reason.endswith("in 0.3 s")


@pytest.mark.parametrize("case", ["loopback not allowed", "unknown endpoint"])
async def test_a_call_refused_before_it_is_made_stops_the_run(conn, settings, employee, external, case):
    overrides = endpoints(settings, external)
    if case == "loopback not allowed":
        overrides["outbound"] = OutboundSettings(allow_private=False, _env_file=None)  # type: ignore[call-arg]
    else:
        overrides["workflow_endpoints"] = {"other": overrides["workflow_endpoints"]["itsm"]}
    run_id = await _start(conn, employee)
    await run_worker(settings, conn, **overrides)

    assert external.api.requests == []
    run = await service.get_run(conn, run_id=run_id)
    expected = "private or loopback address" if case == "loopback not allowed" else "no endpoint 'itsm' is configured"
    assert run.status == "failed" and expected in (run.reason or "")
    assert next(s for s in run.steps if s.step_id == "call").attempts == 1


def test_a_definition_cannot_send_what_a_later_step_returns():
    body = FLOW | {"steps": [FLOW["steps"][0] | {"body": {"id": "$steps.note.id"}}, FLOW["steps"][1]]}
    with pytest.raises(ValidationError, match="reference to 'note', which is not an earlier step"):
        Workflow.model_validate(body)


def test_production_refuses_an_endpoint_secret_in_clear():
    production = {"env": "production", "database_url": "postgresql://x/y", "secret_key": "k" * 40,
                  "assertion_key": "a" * 40, "rasa_channel_secret": "c" * 40, "actions_secret": "s" * 40,
                  "_env_file": None}
    clear = EndpointSettings(url="https://itsm.example.com/api", auth="bearer", secret=SecretStr(SECRET))
    with pytest.raises(ValidationError, match="itsm give their secret in clear"):
        Settings(**production, workflow_endpoints={"itsm": clear})
    encrypted = clear.model_copy(update={"secret": None, "secret_encrypted": "gAAAA-token"})
    assert Settings(**production, workflow_endpoints={"itsm": encrypted}).workflow_endpoints["itsm"].secret is None
