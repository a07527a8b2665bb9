"""The demo desk mailbox ``deskmate run`` starts while no mailbox of your own is configured: Debian's Dovecot on
loopback (``DESKMATE_DEMO_IMAP_PORT``), its config, user and Maildir under ``<data_dir>/imap``, with one account,
``helpdesk@example.com``, whose password is a development key (``<data_dir>/imap/helpdesk.secret``, mode 0600).

``seed`` saves it as the ``demo-helpdesk`` mailbox through the e-mail channel's own service (the password
encrypted, unknown senders become contacts), so the worker's periodic poll reads it like any other; the demo SMTP
server (api/dev/mailbox.py) hands it every message addressed to the desk with ``deliver`` (an IMAP APPEND: Dovecot
files it, so ownership, UIDs and indexes are its own business). Without dovecot (``make debs`` installs
dovecot-imapd) the run goes on without it, and ``disable`` turns an earlier run's ``demo-helpdesk`` off.
"""

from __future__ import annotations

import grp
import hashlib
import logging
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from imap_tools import MailBoxUnencrypted
from pydantic import SecretStr

from api import keyfile
from api.channels.email import service as mailboxes
from api.channels.email.cli import OPERATOR
from api.channels.email.models import Mailbox, MailboxIn, MailboxPatch
from api.db import Conn
from api.dev.directory import alive, listening
from api.settings import Settings

log = logging.getLogger(__name__)
DOVECOT = "dovecot"
ADDRESS = "helpdesk@example.com"
MAILBOX_NAME = "demo-helpdesk"
NO_DOVECOT = ("desk mailbox: none (dovecot is not installed; `make debs` installs dovecot-imapd): mail to the desk "
              "is not read until you add a mailbox (docs/channels.md#e-mail)")

CONFIG = """\
# written on every start (api/dev/imap.py); edits are lost
base_dir = {run}
state_dir = {dir}/state
log_path = {dir}/dovecot.log
instance_name = {instance}
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = {internal}
default_internal_group = {internal_group}
default_login_user = {login}
first_valid_uid = 0
mail_location = maildir:{dir}/mail{per_user}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {dir}/users{per_user}
}}
userdb {{
  driver = static
  args = uid={internal} gid={internal_group} home={dir}/home{per_user}
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
  chroot =
}}
service anvil {{
  chroot =
}}
{extra}"""


class DemoImapError(RuntimeError):
    """The demo Dovecot could not be started: the message says why and what to change."""


@dataclass
class DemoImap:
    port: int
    directory: Path
    password: SecretStr
    process: subprocess.Popen[bytes]
    run_dir: Path  # its sockets and pid file
    address: str = ADDRESS

    def deliver(self, raw: bytes) -> None:
        """Files ``raw`` in the desk's INBOX (an IMAP APPEND, unread)."""
        with MailBoxUnencrypted("127.0.0.1", self.port, timeout=30).login(
                self.address, self.password.get_secret_value()) as box:
            box.append(raw, "INBOX")

    def stop(self, *, timeout_s: float = 20) -> None:
        """Stops Dovecot and waits for it (its children go with it); removes its run dir."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.run_dir, ignore_errors=True)


def dovecot_users() -> tuple[pwd.struct_passwd, pwd.struct_passwd]:
    """(internal, login): Debian's dovecot and dovenull as root, otherwise the current user for both."""
    if os.geteuid() == 0:
        return pwd.getpwnam("dovecot"), pwd.getpwnam("dovenull")
    me = pwd.getpwuid(os.geteuid())
    return me, me


def _unreachable(path: Path, user: pwd.struct_passwd) -> Path | None:
    """The first directory above ``path`` that ``user`` may not pass through, if any."""
    for parent in reversed(path.parents):
        st = parent.stat()
        if not (st.st_mode & stat.S_IXOTH or (st.st_uid == user.pw_uid and st.st_mode & stat.S_IXUSR)):
            return parent
    return None


def accepts(port: int) -> bool:
    """Whether an IMAP server greets on the loopback ``port``."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            return s.recv(100).startswith(b"* OK")
    except OSError:
        return False


def _stop_stale(run_dir: Path, *, timeout_s: float = 20) -> None:
    """Stops the Dovecot an earlier run of this data dir left behind (killed before it could stop it)."""
    pid_file = run_dir / "master.pid"
    if not (pid_file.exists() and (text := pid_file.read_text().strip()) and alive(pid := int(text))):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)


def dovecot_conf(*, base: Path, run_dir: Path, instance: str, port: int, per_user: bool = False,
                 extra: str = "") -> str:
    """A Dovecot config: IMAP without TLS on the loopback ``port``, users in ``base/users`` (a passwd-file, or one
    per user with ``per_user``), Maildirs under ``base/mail``, state and log under ``base``, sockets in
    ``run_dir``; as root its processes run as Debian's dovecot and dovenull (the tests' Dovecot uses it too)."""
    internal, login = dovecot_users()
    return CONFIG.format(run=run_dir, dir=base, instance=instance, port=port, per_user="/%u" if per_user else "",
                         internal=internal.pw_name, internal_group=grp.getgrgid(internal.pw_gid).gr_name,
                         login=login.pw_name, extra=extra)


def _write_config(settings: Settings, base: Path, run_dir: Path, tag: str) -> tuple[Path, str]:
    """Writes dovecot.conf and the one-user passwd-file under ``base``; returns the config and the password."""
    internal, _ = dovecot_users()
    if (blocked := _unreachable(base, internal)) is not None:
        raise DemoImapError(f"Dovecot's user {internal.pw_name} cannot reach {base} ({blocked} is closed to "
                            "it): `chmod o+x` it, or set DESKMATE_DATA_DIR to a directory it can reach")
    password = settings.dev_key("imap/helpdesk.secret")
    for sub in ("mail", "home", "state"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    for sub in ("mail", "home"):
        os.chown(base / sub, internal.pw_uid, internal.pw_gid)
    users = base / "users"
    keyfile.replace_secret(users, f"{ADDRESS}:{{PLAIN}}{password}\n")
    os.chown(users, internal.pw_uid, internal.pw_gid)  # Dovecot's auth process reads it
    conf = base / "dovecot.conf"
    conf.write_text(dovecot_conf(base=base, run_dir=run_dir, instance=f"deskmate-demo-{tag}",
                                 port=settings.demo_imap_port))
    return conf, password


def start(settings: Settings, *, timeout_s: float = 30) -> DemoImap | None:
    """Starts the demo Dovecot on ``DESKMATE_DEMO_IMAP_PORT``; None when dovecot is not installed. Stop it with
    ``stop()``."""
    if shutil.which(DOVECOT) is None:
        log.warning(NO_DOVECOT)
        return None
    base = settings.data_dir.resolve() / "imap"
    base.mkdir(parents=True, exist_ok=True)
    tag = hashlib.sha256(str(base).encode()).hexdigest()[:12]
    run_dir = Path(tempfile.gettempdir()) / f"deskmate-imap-{tag}"  # its sockets' paths must stay short
    _stop_stale(run_dir)
    port = settings.demo_imap_port
    if listening(port):
        raise DemoImapError(f"port {port} is already in use (another `deskmate run`?): set DESKMATE_DEMO_IMAP_PORT "
                            "to a free port")
    run_dir.mkdir(mode=0o755, exist_ok=True)
    conf, password = _write_config(settings, base, run_dir, tag)
    with (base / "dovecot.out").open("wb") as out:
        process = subprocess.Popen([DOVECOT, "-F", "-c", str(conf)], stdin=subprocess.DEVNULL, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    imap = DemoImap(port=port, directory=base, password=SecretStr(password), process=process, run_dir=run_dir)
    deadline = time.monotonic() + timeout_s
    while not accepts(port):
        if process.poll() is not None or time.monotonic() > deadline:
            imap.stop()
            said = (base / "dovecot.out").read_text(errors="replace").strip()[-500:]
            raise DemoImapError(f"dovecot did not start (see {base / 'dovecot.log'}): {said or 'no output'}")
        time.sleep(0.05)
    return imap


async def own_mailboxes(conn: Conn) -> list[str]:
    """The names of the mailboxes configured besides the demo one."""
    return [m.name for m in await mailboxes.list_mailboxes(conn) if m.name != MAILBOX_NAME]


async def _demo_row(conn: Conn) -> Mailbox | None:
    return next((m for m in await mailboxes.list_mailboxes(conn) if m.name == MAILBOX_NAME), None)


async def seed(conn: Conn, settings: Settings, *, imap: DemoImap) -> Mailbox:
    """Saves (or brings up to date: port, password) the ``demo-helpdesk`` mailbox that reads ``imap``."""
    data = MailboxIn(name=MAILBOX_NAME, host="127.0.0.1", port=imap.port, tls="none", username=imap.address,
                     password=imap.password, address=imap.address, unknown_sender="create_contact")
    existing = await _demo_row(conn)
    if existing is None:
        mailbox, _ = await mailboxes.create(conn, settings, principal=OPERATOR, data=data)
        return mailbox
    return await mailboxes.update(conn, settings, mailbox_id=existing.id,
                                  data=MailboxPatch(**data.model_dump(exclude={"name"})))


async def disable(conn: Conn, settings: Settings) -> None:
    """Turns an earlier run's ``demo-helpdesk`` off, so the worker does not poll a Dovecot that is not there."""
    existing = await _demo_row(conn)
    if existing is not None and existing.enabled:
        await mailboxes.update(conn, settings, mailbox_id=existing.id, data=MailboxPatch(enabled=False))


def summary(imap: DemoImap, *, smtp_port: int | None) -> list[str]:
    """The start-up banner's lines about the desk mailbox: its address and how to write to it."""
    lines = [f"desk e-mail: {imap.address} (Dovecot at imap://127.0.0.1:{imap.port}, read by the worker "
             "as mail arrives, through IMAP IDLE; a new mail opens a ticket)"]
    if smtp_port is not None:
        lines.append(f"  test mail: .venv/bin/python -c \"import smtplib; smtplib.SMTP('127.0.0.1', {smtp_port})"
                     f".sendmail('you@example.com', '{imap.address}', 'From: you@example.com\\nTo: {imap.address}"
                     "\\nSubject: The printer is jammed\\n\\nPlease help.')\"")
    return lines
