"""Fixtures of the bot's tests: the REAL deskmate api as a process, and tracker builders.

The api runs under the backend's Python 3.11 environment (tests/bot/api_process.py: the real app on a
fresh test database, plus a small /_test router that plays the chat gateway's part of a turn), so a
contract break between the actions and the api fails here. These tests need rasa_sdk, which only the
Rasa environment (.venv-rasa) has; under the backend's environment they are not collected.
"""
from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

if importlib.util.find_spec("rasa_sdk") is None:  # backend environment: nothing to run here
    collect_ignore_glob = ["test_*.py"]

ROOT = Path(__file__).resolve().parents[2]
BACKEND_PYTHON = ROOT / ".venv" / "bin" / "python"
DATA_DIR = Path(os.environ.get("DESKMATE_TEST_DATA_DIR", ROOT / "var" / "test"))
API_START_TIMEOUT_S = 300


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http(method: str, url: str, body: Any = None, token: str | None = None,
         timeout: float = 30) -> tuple[int, Any]:
    """One JSON request; (status, parsed body)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return answer.status, json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


@dataclass
class Api:
    """The running api: its URL, the set-up people, and the gateway's part of a turn."""

    url: str
    setup: dict[str, str]

    def conversation(self, email: str | None = None) -> str:
        status, body = http("POST", f"{self.url}/_test/conversations", {"email": email})
        assert status == 200, body
        return body["conversation_id"]

    def turn(self, conversation_id: str, text: str, intent: str | None = None) -> dict[str, Any]:
        """Stores the user's text as the gateway does; returns the turn's metadata for Rasa."""
        status, body = http("POST", f"{self.url}/_test/conversations/{conversation_id}/turn",
                            {"text": text, "intent": intent})
        assert status == 200, body
        return body

    def say(self, conversation_id: str, text: str) -> dict[str, Any]:
        """The gateway's part of a turn with its step-up screen: ``to_rasa`` (what Rasa receives), ``metadata``."""
        status, body = http("POST", f"{self.url}/_test/conversations/{conversation_id}/say", {"text": text})
        assert status == 200, body
        return body

    def mail_to(self, address: str) -> str:
        """The newest e-mail the api sent to ``address`` ("" when none)."""
        status, body = http("GET", f"{self.url}/_test/mail?to={address}")
        assert status == 200, body
        return body["body"]

    def locked_account(self, email: str) -> str:
        """A locked account with ``email`` in the api's real slapd; its username."""
        status, body = http("POST", f"{self.url}/_test/directory/locked", {"email": email}, timeout=120)
        assert status == 200, body
        return body["username"]

    def report_of(self, who: str, manager: str) -> str:
        """An account of the set-up person ``who`` in the real slapd, managed by ``manager``'s; its username."""
        status, body = http("POST", f"{self.url}/_test/directory/report", {
            "email": self.setup[f"{who}_email"], "manager_email": self.setup[f"{manager}_email"]}, timeout=120)
        assert status == 200, body
        return body["username"]

    def account_opens(self, username: str) -> bool:
        status, body = http("GET", f"{self.url}/_test/directory/{username}")
        assert status == 200, body
        return body["opens"]

    def drain_workflows(self) -> None:
        """Runs the workflow queue until no job is due (the api's own worker, in burst mode)."""
        status, body = http("POST", f"{self.url}/_test/workflows/drain", timeout=120)
        assert status == 200, body

    def requests_in(self, trace_id: str) -> list[dict[str, Any]]:
        """The requests the api answered in that trace: ``{"method", "path", "status"}``."""
        status, body = http("GET", f"{self.url}/_test/requests?trace_id={trace_id}")
        assert status == 200, body
        return body

    def as_admin(self, method: str, path: str, body: Any = None) -> Any:
        status, answer = http(method, f"{self.url}/api/v1{path}", body, token=self.setup["admin_token"])
        assert status < 300, (status, answer)
        return answer

    def tickets_of(self, email_key: str) -> list[dict[str, Any]]:
        status, page = http("GET", f"{self.url}/api/v1/tickets?requester=me&limit=100",
                            token=self.setup[f"{email_key}_token"])
        assert status == 200, page
        return page["items"]


def _wait(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + API_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the api exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    process.kill()
    raise RuntimeError(f"the api did not answer {url} within {API_START_TIMEOUT_S} s")


@pytest.fixture(scope="session")
def real_api() -> Iterator[Api]:
    """The real api process on a fresh database; stopped after the session."""
    port = free_port()
    log = DATA_DIR / "logs" / "bot-api.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DESKMATE_", "DATABASE_URL"))}
    env.update(DESKMATE_TEST_DATA_DIR=str(DATA_DIR), PYTHONPATH=str(ROOT))
    with log.open("wb") as out:
        process = subprocess.Popen([str(BACKEND_PYTHON), str(ROOT / "tests" / "bot" / "api_process.py"),
                                    "--port", str(port)], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait(f"{url}/readyz", process, log)
        status, setup = http("GET", f"{url}/_test/setup")
        assert status == 200, setup
        # The first question loads the embedding model (half a minute on a busy machine); later ones are quick.
        http("POST", f"{url}/api/v1/kb/answer", {"question": "warm up"}, token=setup["service_token"],
             timeout=API_START_TIMEOUT_S)
        yield Api(url=url, setup=setup)
    finally:
        process.terminate()
        process.wait(timeout=15)


@pytest.fixture
def api(real_api: Api, monkeypatch: pytest.MonkeyPatch) -> Api:
    """The real api, and the action server's environment pointing at it."""
    monkeypatch.setenv("DESKMATE_API_URL", real_api.url)
    monkeypatch.setenv("DESKMATE_SERVICE_TOKEN", real_api.setup["service_token"])
    monkeypatch.setenv("DESKMATE_ACTIONS_API_TIMEOUT_S", "20")
    return real_api
