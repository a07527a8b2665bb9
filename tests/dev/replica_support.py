"""Running ``deskmate run`` as a real process for the replica tests: its environment on free ports, its output
read as it comes, the pids of every process it started (and their children), and a stop by signal."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

from fakes.slapd_server import free_port
from fakes.waiting import wait_until

from api.settings import REPO_ROOT, Settings

STARTED = re.compile(r"^(\S+)\s+\| started \(pid (\d+)\)$")


def free_ports(count: int) -> int:
    """The first of ``count`` consecutive loopback ports that are free now."""
    while True:
        base = free_port()
        if base + count <= 65535 and all(_bindable(base + i) for i in range(1, count)):
            return base


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def run_env(settings: Settings, tmp_path: Path, *, apis: int = 1, rasas: int = 1) -> dict[str, str]:
    """The environment of a ``deskmate run`` on the test database whose every port is free."""
    return {**os.environ, "DATABASE_URL": settings.database_url.get_secret_value(),  # type: ignore[union-attr]
            "PYTHONPATH": str(REPO_ROOT),  # the Procfile's .venv/bin/deskmate runs this checkout's code too
            "DESKMATE_ENV": "test", "DESKMATE_DATA_DIR": str(settings.data_dir),
            "DESKMATE_KB_DIR": str(tmp_path / "no-kb"), "DESKMATE_LOG_LEVEL": "WARNING",
            "DESKMATE_HOST": "127.0.0.1", "DESKMATE_PORT": str(free_ports(apis)),
            "DESKMATE_RASA_URL": f"http://127.0.0.1:{free_ports(rasas)}", "DESKMATE_ACTIONS_PORT": str(free_port()),
            "DESKMATE_DEMO_REDIS_PORT": str(free_port()), "DESKMATE_DEMO_LDAP_PORT": str(free_port()),
            "DESKMATE_DEMO_SMTP_PORT": str(free_port()), "DESKMATE_DEMO_IMAP_PORT": str(free_port())}


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def group_members(leaders: set[int]) -> set[int]:
    """Every live process whose process group is one of ``leaders`` (each started process leads its own)."""
    members = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(fields[2]) in leaders and fields[0] != "Z":
            members.add(int(entry.name))
    return members


class DeskmateRun:
    """``deskmate run ARGS`` in the background; ``lines`` grows as it prints."""

    def __init__(self, args: list[str], *, env: dict[str, str]) -> None:
        self.lines: list[str] = []
        self.proc = subprocess.Popen([sys.executable, "-m", "api.cli", "run", *args], env=env, cwd=REPO_ROOT,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, pattern: str, *, timeout: float) -> re.Match[str]:
        """The first output line matching ``pattern``; fails (with the output) when the run ends or time is up."""
        regex = re.compile(pattern)

        def seen() -> re.Match[str] | None:
            if self.proc.poll() is not None and not self._reader.is_alive():
                found = next(filter(None, map(regex.search, self.lines)), None)
                if found is None:
                    raise AssertionError(f"deskmate run ended (exit {self.proc.returncode}):\n{self.output}")
                return found
            return next(filter(None, map(regex.search, list(self.lines))), None)

        try:
            return wait_until(seen, timeout, f"{pattern!r} in the output of deskmate run")  # type: ignore[return-value]
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- output so far ---\n{self.output[-6000:]}") from None

    def started(self) -> dict[str, int]:
        """Process name → pid of its latest start."""
        return {m.group(1): int(m.group(2)) for m in map(STARTED.match, list(self.lines)) if m}

    def stop(self, *, timeout: float = 90) -> int:
        """SIGTERM, as Ctrl-C would; the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self._reader.join(timeout=10)
