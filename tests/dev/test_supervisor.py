"""``deskmate run`` watches its processes: one that dies is restarted with a backoff, and when it keeps
dying the run stops the others and exits non-zero naming it, how it died and its last lines.

The Procfile holds tiny fake processes; the real stack is never started here.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fakes.slapd_server import free_port

from api.dev import imap, supervisor
from api.settings import REPO_ROOT


def _procfile(tmp_path: Path) -> Path:
    py = sys.executable
    procfile = tmp_path / "Procfile"
    procfile.write_text(
        f"steady: {py} -c \"import time; print('steady up', flush=True); time.sleep(600)\"\n"
        f"flaky: {py} -c \"import sys; print('flaky: cannot bind 127.0.0.1:5055', flush=True); sys.exit(3)\"\n")
    return procfile


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def _gone(pid: int, *, within_s: float = 5.0) -> bool:
    """Whether ``pid`` is dead within ``within_s`` (SIGKILL is delivered asynchronously)."""
    deadline = time.monotonic() + within_s
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


@pytest.fixture
def run_env(settings, tmp_path) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": settings.database_url.get_secret_value(), "DESKMATE_ENV": "test",
            "DESKMATE_DATA_DIR": str(settings.data_dir), "DESKMATE_KB_DIR": str(tmp_path / "no-kb"),
            "DESKMATE_LOG_LEVEL": "WARNING", "DESKMATE_DEMO_LDAP_PORT": str(free_port()),
            "DESKMATE_DEMO_SMTP_PORT": str(free_port()), "DESKMATE_DEMO_IMAP_PORT": str(free_port())}


@pytest.fixture(autouse=True)
async def _no_demo_desk_mailbox_left(conn) -> AsyncIterator[None]:
    """`deskmate run` saves the demo desk mailbox; other tests' workers must not poll it once its Dovecot is gone."""
    yield
    await conn.execute("DELETE FROM mailboxes WHERE name = %s", (imap.MAILBOX_NAME,))


@pytest.mark.parametrize("restarts", [0, 2])
def test_a_process_that_keeps_dying_ends_the_run_with_an_error_naming_it(run_env, tmp_path, restarts):
    procfile = _procfile(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "api.cli", "run", "--procfile", str(procfile), "--restarts", str(restarts),
         "--restart-backoff", "0"], env=run_env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    out = done.stdout
    assert done.returncode == 1, out + done.stderr
    runs = re.findall(r"^flaky\s+\| flaky: cannot bind", out, flags=re.MULTILINE)
    assert len(runs) == restarts + 1  # started, then restarted `restarts` times
    assert len(re.findall(r"^flaky\s+\| exited with code 3; restart \d of", out, flags=re.MULTILINE)) == restarts
    report = out[out.index("deskmate run: flaky exited with code 3"):]
    assert "flaky: cannot bind 127.0.0.1:5055" in report  # its last lines
    assert ("after 2 restarts" in report) == (restarts == 2)
    steady = re.search(r"^steady\s+\| started \(pid (\d+)\)", out, flags=re.MULTILINE)
    assert steady is not None and not _alive(int(steady.group(1)))  # the others were stopped, not orphaned


def test_a_process_that_dies_once_is_restarted_and_a_stop_signal_ends_the_run_cleanly(run_env, tmp_path):
    marker, py = tmp_path / "crashed-once", sys.executable
    procfile = tmp_path / "Procfile"
    script = tmp_path / "phoenix.py"
    script.write_text(f"import os, sys, time\nm = {str(marker)!r}\nif not os.path.exists(m):\n"
                      "    open(m, 'w').close(); print('phoenix: crashing', flush=True); sys.exit(1)\n"
                      "print('phoenix: second life', flush=True); time.sleep(600)\n")
    procfile.write_text(f"phoenix: {py} {script}\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "run", "--procfile", str(procfile), "--restart-backoff", "0"],
        env=run_env, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            seen.append(line)
            if "phoenix: second life" in line:
                proc.send_signal(signal.SIGTERM)
                break
        rest = proc.communicate(timeout=60)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out = "".join(seen) + rest
    assert "phoenix: crashing" in out and "exited with code 1; restart 1 of 3" in out
    assert proc.returncode == 0, out
    assert "deskmate stopped\n" in out and "died" not in out


async def test_a_dead_process_whose_child_holds_its_output_open_is_still_reported(tmp_path):
    """The leader exits while a grandchild keeps the log pipe open: the run must neither hang nor leak it."""
    lines: list[str] = []
    pidfile = tmp_path / "grandchild.pid"
    sup = supervisor.Supervisor(
        {"parent": f"sleep 600 & echo $! > {pidfile}; echo 'parent: giving up'; exit 2"},
        env=dict(os.environ), cwd=tmp_path, restarts=0, write=lines.append)
    assert await sup.run() == 1
    assert sup.death is not None and sup.death.returncode == 2 and "parent: giving up" in sup.death.tail
    assert _gone(int(pidfile.read_text()))
