"""The turn's trace id through the real action server (a process) to the real api: logged by the action server
with the action it ran, and sent back on the action's api calls (actions/tracing.py)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import DATA_DIR, ROOT, Api, free_port

from actions import tracing
from actions.api_client import ApiClient

SECRET = "tracing-tests-" + os.urandom(8).hex()


def _until(condition, what: str, timeout: float = 30):  # noqa: ANN001, ANN202
    """Polls ``condition`` until it answers something truthy; fails naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := condition():
            return found
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout} s: {what}")


@pytest.fixture
def action_server(api: Api):  # noqa: ANN201
    """The action server as the Procfile starts it, pointed at the real api; yields (url, its log file)."""
    port, log = free_port(), DATA_DIR / "logs" / "bot-actions-tracing.log"
    env = {**os.environ, "DESKMATE_API_URL": api.url, "DESKMATE_SERVICE_TOKEN": api.setup["service_token"],
           "DESKMATE_ACTIONS_SECRET": SECRET, "PYTHONUNBUFFERED": "1"}
    with log.open("wb") as out:
        server = subprocess.Popen([sys.executable, "-m", "actions.server", "--host", "127.0.0.1", "--port", str(port)],
                                  cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _until(lambda: server.poll() is None and _healthy(url), "the action server answers /health", timeout=120)
        yield url, log
    finally:
        server.terminate()
        server.wait(timeout=10)


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2):
            return True
    except OSError:
        return False


def _action_call(conversation_id: str, text: str, metadata: dict) -> dict:
    latest = {"text": text, "intent": {"name": "ask_question", "confidence": 0.9}, "entities": [],
              "metadata": metadata, "message_id": "m1"}
    return {"next_action": "action_answer_question", "sender_id": conversation_id, "version": "3.6.21",
            "domain": {"forms": {}}, "tracker": {
                "sender_id": conversation_id, "latest_message": latest, "latest_action_name": "action_listen",
                "slots": {}, "events": [{"event": "user", **latest}], "paused": False, "followup_action": None,
                "active_loop": {}}}


def test_an_action_logs_the_turns_trace_and_sends_it_back_to_the_api(api: Api, action_server: tuple[str, Path]):
    url, log = action_server
    conversation = api.conversation(None)
    metadata = api.turn(conversation, "how do i add a signature to my mail", "ask_question")
    trace_id = tracing.parse(metadata.get("traceparent"))
    assert trace_id is not None, metadata  # the gateway's turn metadata carries the trace

    request = urllib.request.Request(f"{url}/webhook", method="POST", headers={
        "Content-Type": "application/json", "X-Deskmate-Actions-Secret": SECRET},
        data=json.dumps(_action_call(conversation, "how do i add a signature to my mail", metadata)).encode())
    with urllib.request.urlopen(request, timeout=120) as answer:
        assert answer.status == 200
        assert json.loads(answer.read())["responses"]  # the action answered the user

    calls = _until(lambda: [r for r in api.requests_in(trace_id) if r["path"] == "/api/v1/kb/answer"],
                   "the api logs the action's call with the turn's trace id")
    assert calls == [{"method": "POST", "path": "/api/v1/kb/answer", "status": 200}]
    line = _until(lambda: [x for x in log.read_text().splitlines() if "action action_answer_question answered" in x],
                  "the action server logs the action")
    assert line[-1].endswith(f"trace_id={trace_id}")


def test_without_a_trace_the_action_server_sends_none():
    assert ApiClient("http://api.test", "t").trace_id is None
    assert tracing.traceparent(None) is None
    parent = tracing.traceparent("ab" * 16)
    assert tracing.parse(parent) == "ab" * 16
    assert tracing.from_action_call({"tracker": {"latest_message": {"metadata": {"traceparent": "junk"}}}}) is None
    assert tracing.from_action_call("not a call") is None
