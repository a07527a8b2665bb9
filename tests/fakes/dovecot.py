"""A real Dovecot IMAP server for the e-mail channel's tests and bench/channels.py (Debian's dovecot-imapd; `make debs`
installs it).

``with Dovecot() as server:`` writes a config under a temp dir, listens on 127.0.0.1 on a free port without SSL
(PLAIN login allowed), keeps users in passwd-files (``server.add_user()`` makes a fresh one, so each test has an
empty Maildir) and the mail under the temp dir. As root, Dovecot's processes run as the ``dovecot`` and
``dovenull`` users the Debian package creates; otherwise as the current user.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

from fakes.waiting import wait_until
from imap_tools import MailBoxUnencrypted, MailMessageFlags

from api.dev import imap

PROCESSED = """\
namespace inbox {
  inbox = yes
  separator = /
  mailbox Processed {
    auto = create
  }
}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Dovecot:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="dovecot-", dir="/tmp"))
        self.dir.chmod(0o755)  # Dovecot's unprivileged processes reach their mail through it
        self.port = _free_port()
        self.host = "127.0.0.1"
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Dovecot:
        if shutil.which("dovecot") is None:
            raise RuntimeError("dovecot is not installed: `make debs` installs Debian's dovecot-imapd")
        internal, _ = imap.dovecot_users()
        for sub in ("run", "state", "mail", "home", "users"):
            (self.dir / sub).mkdir()
        for sub in ("mail", "home"):
            os.chown(self.dir / sub, internal.pw_uid, internal.pw_gid)
        conf = self.dir / "dovecot.conf"
        conf.write_text(imap.dovecot_conf(base=self.dir, run_dir=self.dir / "run", instance=f"deskmate-test-{self.port}",
                                          port=self.port, per_user=True, extra=PROCESSED))
        self._proc = subprocess.Popen(["dovecot", "-F", "-c", str(conf)], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE)
        try:
            wait_until(lambda: self._proc is None or self._proc.poll() is not None or imap.accepts(self.port), 30,
                       "dovecot to listen")
        finally:
            if self._proc.poll() is not None:
                log = (self.dir / "dovecot.log").read_text() if (self.dir / "dovecot.log").exists() else ""
                raise RuntimeError(f"dovecot did not start: {self._proc.stderr.read().decode() if self._proc.stderr else ''}"
                                   f"\n{log}")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(20)
        shutil.rmtree(self.dir, ignore_errors=True)

    def add_user(self) -> tuple[str, str]:
        """A new IMAP account with an empty mailbox: (username, password)."""
        user, password = f"desk-{uuid.uuid4().hex[:10]}", uuid.uuid4().hex
        # one passwd-file per user: Dovecot re-reads a changed file only when its mtime second changes
        (self.dir / "users" / user).write_text(f"{user}:{{PLAIN}}{password}\n")
        return user, password

    def kick(self, user: str) -> None:
        """Drops every IMAP connection of ``user``, as a server restart or an admin would (``doveadm kick``)."""
        subprocess.run(["doveadm", "-c", str(self.dir / "dovecot.conf"), "kick", user], check=True,
                       capture_output=True, timeout=30)

    def login(self, user: str, password: str) -> MailBoxUnencrypted:
        return MailBoxUnencrypted(self.host, self.port, timeout=30).login(user, password)

    def append(self, user: str, password: str, raw: bytes, *, folder: str = "INBOX") -> None:
        with self.login(user, password) as box:
            typ, data = box.client.append(folder, None, None, raw)
            assert typ == "OK", data

    def folder_state(self, user: str, password: str, folder: str = "INBOX") -> list[tuple[int, bool]]:
        """(UID, seen) of every message in ``folder``."""
        with self.login(user, password) as box:
            box.folder.set(folder)
            return [(int(m.uid or 0), MailMessageFlags.SEEN in m.flags)
                    for m in box.fetch(mark_seen=False, headers_only=True)]
