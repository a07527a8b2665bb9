"""A local OpenLDAP slapd's configuration and seed LDIF: the demo directory (demo.py) and the tests use it.

The tree under ``suffix``::

    ou=people       inetOrgPerson entries (uid, cn, mail, mobile, manager)
    ou=groups       groupOfNames; those under ou=requestable,ou=groups form the access catalogue
    ou=services     service accounts (the connector binds as one)
    ou=policies     cn=default: the slapo-ppolicy policy (lockout after ``max_failures``, must change on reset)

Writers (the service accounts named in ``slapd_conf``) may write people and groups and set passwords;
every bound user may read; anonymous may only bind.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

SCHEMAS = ("core", "cosine", "inetorgperson")
MODULE_DIR = Path("/usr/lib/ldap")
SCHEMA_DIR = Path("/etc/ldap/schema")


@dataclass(frozen=True)
class Person:
    uid: str
    name: str
    email: str | None = None
    mobile: str | None = None
    manager_uid: str | None = None
    password: str | None = None
    locked: bool = False  # seeded with pwdAccountLockedTime (as if it had failed too many binds)


@dataclass(frozen=True)
class Group:
    name: str
    members: tuple[str, ...]  # uids; groupOfNames needs at least one
    description: str | None = None
    owner_uid: str | None = None
    requestable: bool = False


@dataclass(frozen=True)
class Layout:
    suffix: str
    people: str = field(init=False)
    groups: str = field(init=False)
    requestable: str = field(init=False)
    services: str = field(init=False)
    policy: str = field(init=False)

    def __post_init__(self) -> None:
        for name, rdn in (("people", "ou=people"), ("groups", "ou=groups"), ("requestable", "ou=requestable,ou=groups"),
                          ("services", "ou=services"), ("policy", "cn=default,ou=policies")):
            object.__setattr__(self, name, f"{rdn},{self.suffix}")

    def person(self, uid: str) -> str:
        return f"uid={uid},{self.people}"

    def group(self, group: Group) -> str:
        return f"cn={group.name},{self.requestable if group.requestable else self.groups}"

    def service(self, cn: str) -> str:
        return f"cn={cn},{self.services}"


def ssha(password: str) -> str:
    """``{SSHA}`` hash of ``password`` for userPassword (salted SHA-1, as slappasswd makes by default)."""
    salt = os.urandom(8)
    return "{SSHA}" + base64.b64encode(hashlib.sha1(password.encode() + salt).digest() + salt).decode()


def _line(attr: str, value: str) -> str:
    safe = value.isascii() and value.isprintable() and not value.startswith((" ", ":", "<")) and not value.endswith(" ")
    return f"{attr}: {value}" if safe else f"{attr}:: {base64.b64encode(value.encode()).decode()}"


def _entry(dn: str, *pairs: tuple[str, str | None]) -> str:
    return "\n".join([_line("dn", dn), *(_line(a, v) for a, v in pairs if v is not None)]) + "\n"


def _person(layout: Layout, p: Person, locked_at: str) -> str:
    first, _, last = p.name.rpartition(" ")
    return _entry(layout.person(p.uid), ("objectClass", "inetOrgPerson"), ("uid", p.uid), ("cn", p.name),
                  ("sn", last or p.name), ("givenName", first or None), ("displayName", p.name), ("mail", p.email),
                  ("mobile", p.mobile), ("manager", layout.person(p.manager_uid) if p.manager_uid else None),
                  ("userPassword", ssha(p.password) if p.password else None),
                  ("pwdAccountLockedTime", locked_at if p.locked else None))


def _group(layout: Layout, g: Group) -> str:
    if not g.members:
        raise ValueError(f"group {g.name} needs at least one member (groupOfNames)")
    return _entry(layout.group(g), ("objectClass", "groupOfNames"), ("cn", g.name), ("description", g.description),
                  ("owner", layout.person(g.owner_uid) if g.owner_uid else None),
                  *(("member", layout.person(uid)) for uid in g.members))


def ldif(layout: Layout, *, people: list[Person], groups: list[Group], services: dict[str, str],
         max_failures: int = 3, lockout_duration_s: int = 0) -> str:
    """The whole tree as LDIF for ``slapadd``; ``services`` maps service account cn → password."""
    top = layout.suffix.split(",")[0].partition("=")[2]
    locked_at = datetime.now(UTC).strftime("%Y%m%d%H%M%SZ")
    entries = [
        _entry(layout.suffix, ("objectClass", "dcObject"), ("objectClass", "organization"), ("dc", top), ("o", top)),
        *(_entry(f"{ou},{layout.suffix}", ("objectClass", "organizationalUnit"), ("ou", ou[3:]))
          for ou in ("ou=people", "ou=groups", "ou=services", "ou=policies")),
        _entry(layout.requestable, ("objectClass", "organizationalUnit"), ("ou", "requestable"),
               ("description", "Groups anyone may ask to join (the access catalogue)")),
        _entry(layout.policy, ("objectClass", "organizationalRole"), ("objectClass", "pwdPolicy"), ("cn", "default"),
               ("pwdAttribute", "userPassword"), ("pwdLockout", "TRUE"), ("pwdMaxFailure", str(max_failures)),
               ("pwdLockoutDuration", str(lockout_duration_s)), ("pwdMustChange", "TRUE"),
               ("pwdAllowUserChange", "TRUE")),
        *(_entry(layout.service(cn), ("objectClass", "organizationalRole"), ("objectClass", "simpleSecurityObject"),
                 ("cn", cn), ("userPassword", ssha(pw))) for cn, pw in services.items()),
        *(_person(layout, p, locked_at) for p in people),
        *(_group(layout, g) for g in groups),
    ]
    return "\n".join(entries)


def slapd_conf(layout: Layout, *, db_dir: Path, pid_file: Path, admin_password: str, writers: list[str],
               tls: tuple[Path, Path] | None = None) -> str:
    """slapd.conf for one mdb database holding ``layout`` with the ppolicy overlay; ``writers`` are the DNs
    that may change people and groups; ``tls`` is (certificate, key) in PEM for ldaps:// and StartTLS."""
    who = "".join(f' by dn.exact="{dn}" write' for dn in writers)
    lines = [*(f"include {SCHEMA_DIR / name}.schema" for name in SCHEMAS),
             f"modulepath {MODULE_DIR}", "moduleload back_mdb", "moduleload ppolicy", f"pidfile {pid_file}"]
    if tls:
        lines += [f"TLSCertificateFile {tls[0]}", f"TLSCertificateKeyFile {tls[1]}"]
    lines += ["database mdb", f'suffix "{layout.suffix}"', f'rootdn "cn=admin,{layout.suffix}"',
              f"rootpw {ssha(admin_password)}", f"directory {db_dir}", "maxsize 104857600",
              "overlay ppolicy", f'ppolicy_default "{layout.policy}"', "ppolicy_use_lockout",
              f"access to attrs=userPassword{who} by self write by anonymous auth by * none",
              f"access to *{who} by users read by * none"]
    return "\n".join(lines) + "\n"
