"""What differs between OpenLDAP (slapo-ppolicy) and Active Directory: attribute names, lock and
must-change state, and the changes that unlock an account or set a one-time password.

OpenLDAP is exercised by the tests against a real slapd; the Active Directory mapping follows Microsoft's
documentation and has not run against a domain controller (docs/directory.md says what that leaves open).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ldap3 import MODIFY_REPLACE

Attrs = dict[str, list[str]]
Changes = dict[str, list[tuple[str, list[str | bytes]]]]

# slapo-ppolicy writes this value for an account an administrator locked for good
PERMANENT_LOCK = "000001010000Z"
AD_LOCKOUT_BIT = 0x10  # UF_LOCKOUT in msDS-User-Account-Control-Computed


def first(attrs: Attrs, name: str) -> str | None:
    values = attrs.get(name.lower())
    return values[0] if values else None


def generalized_time(value: str) -> datetime:
    return datetime.strptime(value[:14], "%Y%m%d%H%M%S").replace(tzinfo=UTC)


@dataclass(frozen=True)
class Flavor:
    name: str
    username_attribute: str
    user_object_class: str
    group_object_class: str
    state_attributes: tuple[str, ...]  # read with every user (operational ones must be asked for by name)

    def user_attributes(self, username_attribute: str) -> list[str]:
        return [username_attribute, "mail", "displayName", "cn", "mobile", "manager", *self.state_attributes]

    def locked(self, attrs: Attrs, *, lockout_duration_s: int | None, now: datetime) -> bool:
        if self.name == "ad":
            computed = first(attrs, "msDS-User-Account-Control-Computed")
            if computed is not None:
                return bool(int(computed) & AD_LOCKOUT_BIT)
            return int(first(attrs, "lockoutTime") or "0") != 0  # without the computed bit: any lockout counts
        locked_at = first(attrs, "pwdAccountLockedTime")
        if locked_at is None:
            return False
        if locked_at == PERMANENT_LOCK or not lockout_duration_s:  # 0 or unknown: locked until unlocked
            return True
        return generalized_time(locked_at) + timedelta(seconds=lockout_duration_s) > now

    def must_change_password(self, attrs: Attrs) -> bool:
        if self.name == "ad":
            return first(attrs, "pwdLastSet") == "0"
        return (first(attrs, "pwdReset") or "").upper() == "TRUE"

    def unlock_changes(self) -> Changes:
        if self.name == "ad":
            return {"lockoutTime": [(MODIFY_REPLACE, ["0"])]}
        return {"pwdAccountLockedTime": [(MODIFY_REPLACE, [])]}  # replace with nothing: removed if present

    def must_change_changes(self) -> Changes:
        if self.name == "ad":
            return {"pwdLastSet": [(MODIFY_REPLACE, ["0"])]}
        return {"pwdReset": [(MODIFY_REPLACE, ["TRUE"])]}


OPENLDAP = Flavor("openldap", "uid", "inetOrgPerson", "groupOfNames",
                  ("pwdAccountLockedTime", "pwdReset", "pwdPolicySubentry"))
AD = Flavor("ad", "sAMAccountName", "user", "group",
            ("lockoutTime", "pwdLastSet", "msDS-User-Account-Control-Computed"))
FLAVORS = {f.name: f for f in (OPENLDAP, AD)}
