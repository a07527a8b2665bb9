"""Real `deskmate worker` processes for tests that kill and restart them."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from api.settings import REPO_ROOT


@contextmanager
def worker_processes(env: dict[str, str], *, queue: str) -> Iterator[Callable[[], subprocess.Popen[bytes]]]:
    """Yields a function that starts `deskmate worker --queue <queue>` with ``env``; kills what is left at the end."""
    procs: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        proc = subprocess.Popen([sys.executable, "-m", "api.cli", "worker", "--queue", queue], env=env, cwd=REPO_ROOT)
        procs.append(proc)
        return proc

    try:
        yield start
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
