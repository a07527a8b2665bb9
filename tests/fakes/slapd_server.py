"""A real OpenLDAP slapd for the tests: Debian's package, a generated slapd.conf with the ppolicy overlay,
seeded with ``slapadd``, listening on free ports (ldap:// with StartTLS and ldaps://, self-signed certificate).

    with Slapd(layout, seed_ldif, writers=[...]) as server:
        server.url, server.ldaps_url, server.ca_file, server.admin_dn, server.admin_password
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from ldap3 import Connection, Server

from api.dev import directory
from api.integrations.ldap.settings import LdapSettings
from api.integrations.ldap.slapd import Group, Layout, Person, slapd_conf

SLAPD, SLAPADD = directory.SLAPD, directory.SLAPADD


def ensure_slapd() -> None:
    """Installs Debian's slapd when it is missing (as `make test` does)."""
    if SLAPD.exists() and SLAPADD.exists():
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "install", "-y", "-qq", "slapd", "ldap-utils"], env=env, check=False,
                   stdout=subprocess.DEVNULL)
    if not SLAPD.exists():
        subprocess.run(["apt-get", "update", "-qq"], env=env, check=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "slapd", "ldap-utils"], env=env, check=True,
                       stdout=subprocess.DEVNULL)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, and its key (PEM files in ``directory``)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


# the test organisation: people with managers and mobiles, a locked account, groups (some requestable)
LAYOUT = Layout("dc=deskmate,dc=test")
PASSWORDS = {"deskmate": "svc-" + "s3cret", "reader": "reader-" + "s3cret"}
PEOPLE = [
    Person("carol", "Carol Cole", "carol@deskmate.test", "+15555550110", password="carol-pw"),
    Person("alice", "Alice Archer", "alice@deskmate.test", "+15555550111", manager_uid="carol", password="alice-pw"),
    Person("bob", "Bob Baker", "bob@deskmate.test", manager_uid="carol", password="bob-pw"),
    Person("dave", "Dave Dunn", "dave@deskmate.test", manager_uid="ghost", password="dave-pw"),
    Person("erin", "Erin East", "erin@deskmate.test", password="erin-pw"),
    Person("frank", "Frank Fox", "frank@deskmate.test", password="frank-pw"),
    Person("gina", "Gina Gray", "gina@deskmate.test", password="gina-pw", locked=True),
    Person("*", "Star Entry", "star@deskmate.test", password="star-pw"),
]
GROUPS = [
    Group("staff", ("alice", "bob", "carol"), "Everyone"),
    Group("vpn-users", ("carol",), "Remote access through the VPN", owner_uid="carol", requestable=True),
    Group("finance-share", ("alice",), "The Finance shared drive", owner_uid="carol", requestable=True),
    Group("build-agents", ("carol",), "CI machines (mutated by the membership tests)", requestable=True),
]


def ldap_settings(slapd: Slapd, **changes: object) -> LdapSettings:
    values: dict[str, object] = dict(url=slapd.url, bind_dn=LAYOUT.service("deskmate"), users_base=LAYOUT.people,
                                     groups_base=LAYOUT.groups, requestable_base=LAYOUT.requestable,
                                     ppolicy_dn=LAYOUT.policy, timeout_s=10)
    return LdapSettings(**{**values, **changes}, _env_file=None)  # type: ignore[arg-type]


class Slapd:
    """One slapd process for ``layout``, seeded with ``seed_ldif``; stopped and its files removed on exit."""

    def __init__(self, layout: Layout, seed_ldif: str, *, writers: list[str]) -> None:
        self.layout, self.seed_ldif, self.writers = layout, seed_ldif, writers
        self.admin_dn, self.admin_password = f"cn=admin,{layout.suffix}", secrets.token_urlsafe(16)
        self.port, self.ldaps_port = free_port(), free_port()
        self.url, self.ldaps_url = f"ldap://127.0.0.1:{self.port}", f"ldaps://127.0.0.1:{self.ldaps_port}"
        self.pid: int | None = None

    def __enter__(self) -> Slapd:
        ensure_slapd()
        self.dir = Path(tempfile.mkdtemp(prefix="deskmate-slapd-"))
        (self.dir / "db").mkdir()
        self.ca_file, key_file = self_signed(self.dir)
        conf = self.dir / "slapd.conf"
        conf.write_text(slapd_conf(self.layout, db_dir=self.dir / "db", pid_file=self.dir / "slapd.pid",
                                   admin_password=self.admin_password, writers=self.writers,
                                   tls=(self.ca_file, key_file)))
        directory.seed(conf, self.seed_ldif)
        self._start()
        return self

    def _start(self) -> None:
        self.pid = directory.start_slapd(self.dir / "slapd.conf", urls=[self.url, self.ldaps_url],
                                         ports=[self.port, self.ldaps_port], pid_file=self.dir / "slapd.pid")

    def _stop(self) -> None:
        if self.pid is not None:
            directory.stop_slapd(self.pid)
            self.pid = None

    def restart(self) -> None:
        """Stops slapd (closing every connection) and starts it again on the same ports and data."""
        self._stop()
        self._start()

    def __exit__(self, *exc: object) -> None:
        self._stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def bind(self, dn: str, password: str) -> bool:
        """Whether a simple bind as ``dn`` with ``password`` succeeds (a failure counts towards lockout)."""
        conn = Connection(Server(self.url), user=dn, password=password)
        try:
            return bool(conn.bind())
        finally:
            conn.unbind()

    def admin(self) -> Connection:
        """A connection bound as the rootdn (outside every access rule and policy), for setting up a test."""
        return Connection(Server(self.url), user=self.admin_dn, password=self.admin_password, auto_bind=True,
                          raise_exceptions=True)
