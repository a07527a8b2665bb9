"""Rasa's model API (``rasa run --enable-api``), and a temporary Rasa server to measure a model with.

``PUT /model {"model_file": path}`` makes a running Rasa 3.6 load another model: it loads the new agent
(with the same endpoints, so trackers in the SQL tracker store stay), then swaps it in and answers 204;
``GET /status`` names the model it serves (``model_file``, ``model_id``). Both need the server's auth token.
Loading runs on Rasa's event loop, so requests arriving during the swap wait for it (seconds) instead of
failing; no process restarts. The path must be readable by the Rasa server (same host or shared volume).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from api.errors import RasaUnavailable
from api.settings import REPO_ROOT, Settings

log = logging.getLogger(__name__)


class ModelApi:
    """The model endpoints of one Rasa server."""

    def __init__(self, base_url: str, *, token: str | None, timeout_s: float = 300.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._params = {"token": token} if token else {}
        self._timeout_s = timeout_s

    async def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.base_url, timeout=self._timeout_s) as http:
            try:
                response = await http.request(method, path, params=self._params, **kwargs)
            except httpx.HTTPError as exc:
                raise RasaUnavailable(f"Rasa at {self.base_url} did not answer: {type(exc).__name__}") from exc
        if response.status_code >= 400:
            raise RasaUnavailable(f"Rasa at {self.base_url} answered {response.status_code} to {method} {path}: "
                                  f"{response.text[:300]}")
        return response

    async def status(self) -> dict[str, Any]:
        """``{"model_file": …, "model_id": …, "num_active_training_jobs": …}``."""
        body: dict[str, Any] = (await self._call("GET", "/status")).json()
        return body

    async def load(self, model_file: Path) -> None:
        """Makes the server serve ``model_file`` (no restart; requests during the swap wait)."""
        await self._call("PUT", "/model", json={"model_file": str(model_file)})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rasa_env() -> dict[str, str]:
    """The environment a Rasa process of ours gets: quiet, no telemetry, the repository importable."""
    return {**os.environ, "PYTHONPATH": str(REPO_ROOT), "RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "2",
            "SQLALCHEMY_SILENCE_UBER_WARNING": "1", "PYTHONUNBUFFERED": "1"}


@asynccontextmanager
async def temporary_rasa(settings: Settings, model: Path, *, log_file: Path) -> AsyncIterator[tuple[str, str]]:
    """A ``rasa run --enable-api`` of its own on a free loopback port serving ``model``: (url, token).

    Deskmate's channel (its secret is the token too), no tracker store, no action server: only NLU is used, through
    the channel's ``/parse`` with the gateway's hint, as a turn gets it. Stopped on exit.
    """
    port, token = free_port(), os.urandom(16).hex()
    cmd = [str(settings.improve_rasa_venv / "bin" / "rasa"), "run", "--enable-api", "--auth-token", token,
           "--interface", "127.0.0.1", "--port", str(port), "--model", str(model),
           "--credentials", str(REPO_ROOT / "bot" / "credentials.yml")]  # deskmate's channel: its NLU route
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as out:
        env = {**rasa_env(), "DESKMATE_RASA_CHANNEL_SECRET": token}  # the channel's secret is the API token
        proc = await asyncio.create_subprocess_exec(*cmd, cwd=REPO_ROOT, env=env, stdout=out,
                                                    stderr=asyncio.subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        await _wait_ready(ModelApi(url, token=token, timeout_s=5), proc, settings.improve_rasa_start_timeout_s,
                          log_file)
        yield url, token
    finally:
        await _stop(proc)


async def _wait_ready(api: ModelApi, proc: asyncio.subprocess.Process, timeout_s: float, log_file: Path) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.returncode is not None:
            raise RasaUnavailable(f"the evaluation Rasa exited (code {proc.returncode}); see {log_file}")
        try:
            if (await api.status()).get("model_file"):
                return
        except RasaUnavailable:
            pass
        try:
            await asyncio.wait_for(proc.wait(), timeout=0.5)
        except TimeoutError:
            pass
    raise RasaUnavailable(f"the evaluation Rasa did not start within {timeout_s:g} s; see {log_file}")


async def _stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is not None:
        return
    proc.terminate()
    try:
        await asyncio.wait_for(proc.wait(), timeout=20)
    except TimeoutError:
        proc.kill()
        await proc.wait()
