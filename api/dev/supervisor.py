"""The process supervisor behind ``deskmate run``: starts every process of a Procfile and keeps them up.

A process that exits is restarted after a backoff (1 s, 2 s, 4 s … by default), at most ``restarts``
times in a row (a process that stayed up for ``stable_s`` seconds starts counting again). When a process
has used up its restarts, the supervisor stops the others and returns 1 after saying which process died,
how, and its last log lines, so a dead stack never looks like a clean stop. Ctrl-C or SIGTERM stops every
process and returns 0.

Each process runs in its own session (``/bin/sh -c``), so stopping it reaches its children too. A process may get
environment variables of its own on top of the shared ones (``envs``: the port of each replica, api/dev/replicas.py).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from honcho.environ import parse_procfile

STOP_GRACE_S = 10.0
LINE_LIMIT = 1 << 20  # longer log lines are cut, never block the process writing them


def read_procfile(path: Path) -> dict[str, str]:
    """The processes of a Procfile: name → shell command, in file order."""
    return dict(parse_procfile(path.read_text()).processes)


@dataclass
class _Child:
    name: str
    command: str
    tail: deque[str]
    env: dict[str, str] = field(default_factory=dict)
    proc: asyncio.subprocess.Process | None = None
    restarts: int = 0
    started_at: float = 0.0
    pump: asyncio.Task[None] | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Death:
    """How the process that ended the run died."""

    name: str
    returncode: int
    restarts: int
    tail: tuple[str, ...]

    def describe(self) -> str:
        code = self.returncode
        how = f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited with code {code}"
        after = f" after {self.restarts} restart{'s' * (self.restarts != 1)}" if self.restarts else ""
        lines = "\n".join(f"    {line}" for line in self.tail) or "    (no output)"
        return f"{self.name} {how}{after}; its last lines:\n{lines}"


class Supervisor:
    """Runs ``processes`` (name → shell command) until one dies for good or a stop signal arrives."""

    def __init__(self, processes: dict[str, str], *, env: dict[str, str], cwd: Path, restarts: int = 3,
                 backoff_s: float = 1.0, stable_s: float = 60.0, tail_lines: int = 20,
                 write: Callable[[str], None] | None = None, envs: dict[str, dict[str, str]] | None = None) -> None:
        own = envs or {}
        self.children = [_Child(name, cmd, deque(maxlen=tail_lines), {**env, **own.get(name, {})})
                         for name, cmd in processes.items()]
        self.cwd = cwd
        self.max_restarts, self.backoff_s, self.stable_s = restarts, backoff_s, stable_s
        self._write = write or _stdout
        self._width = max((len(n) for n in processes), default=4)
        self._stopping = asyncio.Event()
        self.death: Death | None = None

    def say(self, name: str, line: str) -> None:
        self._write(f"{name:<{self._width}} | {line}")

    async def run(self) -> int:
        """Returns 0 after a requested stop, 1 when a process died and stayed dead."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._stopping.set)
        try:
            watchers = [asyncio.create_task(self._keep_up(child)) for child in self.children]
            await self._stopping.wait()
            await self._stop_all()
            await asyncio.gather(*watchers, return_exceptions=True)
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
        if self.death is not None:
            self._write(f"deskmate run: {self.death.describe()}")
            return 1
        return 0

    async def _keep_up(self, child: _Child) -> None:
        while not self._stopping.is_set():
            await self._start(child)
            assert child.proc is not None
            code = await _exited(child.proc)
            _signal_group(child.proc.pid, signal.SIGKILL)  # leftovers of a dead process would hold its ports
            if child.pump:  # the last lines reach the tail before anyone reads it
                try:
                    await asyncio.wait_for(child.pump, timeout=STOP_GRACE_S)
                except TimeoutError:
                    child.pump.cancel()
            if self._stopping.is_set():
                return
            if time.monotonic() - child.started_at >= self.stable_s:
                child.restarts = 0
            if child.restarts >= self.max_restarts:
                self.death = Death(child.name, code, child.restarts, tuple(child.tail))
                self._stopping.set()
                return
            delay = self.backoff_s * 2 ** child.restarts
            child.restarts += 1
            self.say(child.name, f"exited with code {code}; restart {child.restarts} of {self.max_restarts} "
                                 f"in {delay:g} s")
            try:
                await asyncio.wait_for(self._stopping.wait(), timeout=delay)
            except TimeoutError:
                pass

    async def _start(self, child: _Child) -> None:
        child.proc = await asyncio.create_subprocess_exec(
            "/bin/sh", "-c", child.command, env=child.env, cwd=self.cwd, start_new_session=True, limit=LINE_LIMIT,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        child.started_at = time.monotonic()
        self.say(child.name, f"started (pid {child.proc.pid})")
        child.pump = asyncio.create_task(self._pump(child, child.proc))

    async def _pump(self, child: _Child, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        while True:
            try:
                raw = await proc.stdout.readline()
            except ValueError:  # a line over LINE_LIMIT: asyncio dropped it; say so and go on
                raw = b"[a log line longer than 1 MiB was cut]"
            if not raw:
                return
            line = raw.decode(errors="replace").rstrip()
            child.tail.append(line)
            self.say(child.name, line)

    async def _stop_all(self) -> None:
        running = [c.proc for c in self.children if c.proc is not None and c.proc.returncode is None]
        for proc in running:
            _signal_group(proc.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.gather(*(_exited(p) for p in running)), timeout=STOP_GRACE_S)
        except TimeoutError:
            for proc in running:
                _signal_group(proc.pid, signal.SIGKILL)
            await asyncio.gather(*(_exited(p) for p in running))
        for proc in (c.proc for c in self.children if c.proc is not None):
            _signal_group(proc.pid, signal.SIGKILL)  # whatever a process left behind in its session


async def _exited(proc: asyncio.subprocess.Process) -> int:
    """The exit code once the process itself has exited.

    ``Process.wait()`` (Python 3.11) also waits until every holder of the process's output pipe has closed
    it, so a leftover grandchild would hang it; the return code is known as soon as the process exits.
    """
    while proc.returncode is None:  # noqa: ASYNC110 - no event tells a 3.11 Process exited
        await asyncio.sleep(0.05)
    return proc.returncode


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _stdout(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def run(processes: dict[str, str], *, env: dict[str, str], cwd: Path, restarts: int = 3, backoff_s: float = 1.0,
        envs: dict[str, dict[str, str]] | None = None) -> int:
    """Supervises ``processes`` (name → shell command, each with ``envs[name]`` on top of ``env``); the exit status
    for ``deskmate run``."""
    if not processes:
        _stdout("deskmate run: the Procfile names no processes")
        return 1
    return asyncio.run(Supervisor(processes, env=env, cwd=cwd, restarts=restarts, backoff_s=backoff_s,
                                  envs=envs).run())
