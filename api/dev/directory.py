"""The demo directory ``deskmate run`` starts: Debian's slapd under ``<data_dir>/slapd``, seeded once from the demo
organisation (api/integrations/ldap/demo.py), so the demo's unlock and password reset act on a real directory.

Nothing starts when DESKMATE_LDAP_URL names a directory, or when slapd is not installed (``make setup`` installs
it); the log then says that workflows have no directory. The connector's service account password is generated
once and kept in ``<data_dir>/slapd/service.secret`` (mode 0600); the api and the worker get it as an encrypted
settings token (DESKMATE_LDAP_BIND_PASSWORD_ENCRYPTED), with every other DESKMATE_LDAP_* pointing at the demo tree.

The process helpers (``start_slapd``, ``stop_slapd``) are also what the tests' slapd harness uses.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from api import crypto, keyfile
from api.integrations.ldap import demo
from api.integrations.ldap.slapd import Layout, slapd_conf
from api.settings import Settings

log = logging.getLogger(__name__)
SLAPD, SLAPADD = Path("/usr/sbin/slapd"), Path("/usr/sbin/slapadd")
SERVICE = "deskmate"  # the connector's service account (cn=deskmate,ou=services,<suffix>)
NO_DIRECTORY = (f"directory: none ({SLAPD} is not installed and DESKMATE_LDAP_URL is unset): workflows have no "
                "directory, their directory steps stop the run (`make setup` installs slapd)")


@dataclass(frozen=True)
class DemoDirectory:
    url: str
    pid: int
    env: dict[str, str]  # the DESKMATE_LDAP_* the api and the worker get


def listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def alive(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie left for an init that does not reap does not count)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


class SlapdError(RuntimeError):
    """slapd could not be started: the message says why and what to change."""


def start_slapd(conf: Path, *, urls: list[str], ports: list[int], pid_file: Path, timeout_s: float = 30) -> int:
    """Starts slapd with ``conf`` listening on ``urls``; returns its pid once every port in ``ports`` answers."""
    if taken := [p for p in ports if listening(p)]:
        raise SlapdError(f"port {', '.join(map(str, taken))} is already in use (another `deskmate run`?): set "
                         "DESKMATE_DEMO_LDAP_PORT to a free port, or DESKMATE_LDAP_URL to your directory")
    pid_file.unlink(missing_ok=True)
    done = subprocess.run([str(SLAPD), "-f", str(conf), "-h", " ".join(f"{u}/" for u in urls)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SlapdError(f"slapd exited with code {done.returncode}: {done.stderr.strip()[-500:] or 'no output'}")
    # the parent returns after the fork, before the child listens: wait for its pid file and the ports
    deadline = time.monotonic() + timeout_s
    while not (pid_file.exists() and pid_file.read_text().strip() and all(listening(p) for p in ports)):
        if time.monotonic() > deadline:
            raise SlapdError(f"slapd did not start listening on {', '.join(urls)}")
        time.sleep(0.02)
    return int(pid_file.read_text())


def stop_slapd(pid: int, *, timeout_s: float = 30) -> None:
    """Stops the slapd ``pid`` (SIGTERM) and waits until it is gone (it is not our child: no wait())."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and alive(pid):
        time.sleep(0.05)
    if alive(pid):
        raise RuntimeError(f"slapd (pid {pid}) did not stop")


def seed(conf: Path, ldif: str) -> None:
    """Loads ``ldif`` into the (empty) database ``conf`` names, with slapadd."""
    seed_file = conf.parent / "seed.ldif"
    seed_file.write_text(ldif)
    try:
        subprocess.run([str(SLAPADD), "-q", "-f", str(conf), "-l", str(seed_file)], check=True, capture_output=True)
    finally:
        seed_file.unlink()


def start(settings: Settings) -> DemoDirectory | None:
    """Starts the demo directory on ``DESKMATE_DEMO_LDAP_PORT`` (seeding it the first time); None when
    DESKMATE_LDAP_URL is set or slapd is not installed. Stop it with ``stop_slapd(directory.pid)``."""
    if settings.ldap.url:
        return None
    if not (SLAPD.exists() and SLAPADD.exists()):
        log.warning(NO_DIRECTORY)
        return None
    base = settings.data_dir / "slapd"
    base.mkdir(parents=True, exist_ok=True)
    service_password = keyfile.read_or_create(base / "service.secret", nbytes=24)
    layout, ldif = demo.ldif(services={SERVICE: service_password})
    conf, db, pid_file = base / "slapd.conf", base / "db", base / "slapd.pid"
    if pid_file.exists() and (old := pid_file.read_text().strip()) and alive(int(old)):
        stop_slapd(int(old))  # left running by a run that did not stop cleanly
    conf.write_text(slapd_conf(layout, db_dir=db, pid_file=pid_file, admin_password=secrets.token_urlsafe(24),
                               writers=[layout.service(SERVICE)]))
    if not (db / "data.mdb").exists():
        db.mkdir(exist_ok=True)
        seed(conf, ldif)
        log.info("directory: demo directory seeded under %s", base)
    url = f"ldap://127.0.0.1:{settings.demo_ldap_port}"
    pid = start_slapd(conf, urls=[url], ports=[settings.demo_ldap_port], pid_file=pid_file)
    return DemoDirectory(url=url, pid=pid, env=connector_env(settings, url=url, layout=layout,
                                                             service_password=service_password))


def connector_env(settings: Settings, *, url: str, layout: Layout, service_password: str) -> dict[str, str]:
    """The DESKMATE_LDAP_* that point the api and the worker at a slapd tree of ``layout`` (the service account's
    password encrypted with ``settings``' key); the end-to-end tests give their slapd the same."""
    return {"DESKMATE_LDAP_URL": url, "DESKMATE_LDAP_BIND_DN": layout.service(SERVICE),
            "DESKMATE_LDAP_BIND_PASSWORD_ENCRYPTED": crypto.encrypt(settings, service_password),
            "DESKMATE_LDAP_USERS_BASE": layout.people, "DESKMATE_LDAP_GROUPS_BASE": layout.groups,
            "DESKMATE_LDAP_REQUESTABLE_BASE": layout.requestable, "DESKMATE_LDAP_PPOLICY_DN": layout.policy,
            "DESKMATE_LDAP_FLAVOR": "openldap"}
