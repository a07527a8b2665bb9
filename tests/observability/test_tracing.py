"""Trace ids: continued from the caller's W3C traceparent or started per request, on every log record of the
request, and sent on to Rasa in the turn's metadata."""

from __future__ import annotations

import logging
import secrets

import pytest

from api.auth.models import Role
from api.observability import tracing


def _records_of(caplog: pytest.LogCaptureFixture, trace_id: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if getattr(r, "trace_id", None) == trace_id]


async def _turn(client, make_actor, headers: dict[str, str] | None = None):
    employee = await make_actor(Role.employee)
    r = await client.post("/api/v1/chat/conversations", json={}, headers=employee.headers)
    assert r.status_code == 201, r.text
    conversation = r.json()["conversation_id"]
    session = {"X-Chat-Session": r.json()["session_token"], **(headers or {})}
    r = await client.post(f"/api/v1/chat/conversations/{conversation}/messages", json={"text": "hello"},
                          headers=session)
    assert r.status_code in (200, 201), r.text
    return conversation


async def test_the_callers_trace_goes_to_rasa_and_into_every_log_line(client, rasa, make_actor, caplog):
    trace_id, span = secrets.token_hex(16), secrets.token_hex(8)
    caplog.set_level(logging.INFO)
    conversation = await _turn(client, make_actor, {"traceparent": f"00-{trace_id}-{span}-01"})

    sent = [m for m in rasa.received if m.get("sender") == conversation]
    assert len(sent) == 1
    forwarded = sent[0]["metadata"]["traceparent"]
    assert tracing.parse(forwarded) == trace_id
    assert span not in forwarded  # a new span of the same trace
    records = _records_of(caplog, trace_id)
    access = [r for r in records if r.name == "deskmate.access" and getattr(r, "path", "").endswith("/messages")]
    assert len(access) == 1 and access[0].status in (200, 201)


async def test_a_request_without_a_trace_starts_one(client, rasa, make_actor, caplog):
    caplog.set_level(logging.INFO)
    conversation = await _turn(client, make_actor, {"traceparent": "00-not-a-trace-01"})
    sent = next(m for m in rasa.received if m.get("sender") == conversation)
    trace_id = tracing.parse(sent["metadata"]["traceparent"])
    assert trace_id is not None
    access = [r for r in _records_of(caplog, trace_id) if r.name == "deskmate.access"]
    assert [r.path for r in access] == [f"/api/v1/chat/conversations/{conversation}/messages"]
    others = {getattr(r, "trace_id", None) for r in caplog.records if r.name == "deskmate.access"} - {trace_id}
    assert others and None not in others  # the conversation's start had a trace of its own


def test_log_records_outside_a_request_have_no_trace():
    tracing.install_log_records()
    record = logging.getLogger("test").makeRecord("test", logging.INFO, __file__, 1, "x", (), None)
    assert not hasattr(record, "trace_id")
    token = tracing.trace_id.set("ab" * 16)
    try:
        record = logging.getLogger("test").makeRecord("test", logging.INFO, __file__, 1, "x", (), None)
    finally:
        tracing.trace_id.reset(token)
    assert record.trace_id == "ab" * 16


@pytest.mark.parametrize(("value", "expected"), [
    ("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "0af7651916cd43dd8448eb211c80319c"),
    ("00-0AF7651916CD43DD8448EB211C80319C-B7AD6B7169203331-00", "0af7651916cd43dd8448eb211c80319c"),
    ("00-00000000000000000000000000000000-b7ad6b7169203331-01", None),  # all-zero trace id: invalid
    ("00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01", None),  # all-zero span id: invalid
    ("ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", None),  # version ff: invalid
    ("00-0af7651916cd43dd8448eb211c80319c-b7ad6b71692033-01", None),
    ("", None), (None, None), ("garbage", None),
])
def test_traceparent_parsing(value, expected):
    assert tracing.parse(value) == expected
