"""The LDAP / Active Directory connector: ``LdapDirectory`` implements ``api.integrations.directory.Directory``.

ldap3 is synchronous, so every operation runs in a worker thread (``asyncio.to_thread``) on one of at most
``pool_size`` bound connections, kept open between operations; at most ``pool_size`` operations run at once.
A connection that failed at the network level is dropped, the next operation opens a new one.

Errors enter the tree here: network failures, timeouts and busy/unavailable answers become
``DirectoryUnavailable`` (the engine retries), every other refusal ``DirectoryError`` with the server's text.
The bind password is never logged and never part of an error.
"""

from __future__ import annotations

import asyncio
import logging
import math
import ssl
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

from ldap3 import (
    AUTO_BIND_NO_TLS,
    AUTO_BIND_TLS_BEFORE_BIND,
    BASE,
    MODIFY_ADD,
    MODIFY_DELETE,
    MODIFY_REPLACE,
    NONE,
    SUBTREE,
    Connection,
    Server,
    Tls,
)
from ldap3.core import exceptions as lx
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import parse_dn
from pydantic import SecretStr

from api.integrations.directory import DirectoryError, DirectoryGroup, DirectoryUnavailable, DirectoryUser
from api.integrations.ldap._flavors import FLAVORS, Attrs, first
from api.integrations.ldap.settings import LdapSettings

log = logging.getLogger(__name__)
T = TypeVar("T")

RELAX_CONTROL = ("1.3.6.1.4.1.4203.666.5.12", True, None)  # lets an account with `manage` clear pwdFailureTime
_RETRYABLE = (lx.LDAPCommunicationError, lx.LDAPResponseTimeoutError, lx.LDAPBusyResult, lx.LDAPUnavailableResult,
              lx.LDAPTimeLimitExceededResult, lx.LDAPAdminLimitExceededResult, lx.LDAPSocketOpenError,
              lx.LDAPSessionTerminatedByServerError, lx.LDAPStartTLSError, lx.LDAPMaximumRetriesError)
_BROKEN = (lx.LDAPCommunicationError, lx.LDAPResponseTimeoutError, lx.LDAPSessionTerminatedByServerError,
           lx.LDAPSocketOpenError, lx.LDAPMaximumRetriesError)


def _normal_dn(dn: str) -> tuple[tuple[str, str], ...]:
    return tuple((attr.lower(), value.lower()) for attr, value, _sep in parse_dn(dn, escape=True))


def _under(dn: str, base: str) -> bool:
    parts, base_parts = _normal_dn(dn), _normal_dn(base)
    return len(parts) > len(base_parts) and parts[-len(base_parts):] == base_parts


def _attrs(entry: dict) -> Attrs:
    return {name.lower(): [v.decode("utf-8", "replace") for v in values]
            for name, values in entry["raw_attributes"].items()}


def translate(exc: Exception, what: str) -> DirectoryError:
    """The directory error for an ldap3 exception raised while doing ``what``."""
    if "CERTIFICATE_VERIFY_FAILED" in str(exc):  # ldap3 wraps the ssl error in its text: a setting, not an outage
        return DirectoryError(f"The directory's TLS certificate is not trusted (DESKMATE_LDAP_CA_FILE): {exc}")
    if isinstance(exc, _RETRYABLE):
        return DirectoryUnavailable(f"The directory is unavailable ({what}): {type(exc).__name__}: {exc}")
    if isinstance(exc, lx.LDAPInvalidCredentialsResult | lx.LDAPBindError):
        return DirectoryError("The directory refused the service account's credentials (DESKMATE_LDAP_BIND_DN).")
    if isinstance(exc, lx.LDAPInsufficientAccessRightsResult):
        return DirectoryError(f"The service account may not {what}: insufficient access rights.")
    if isinstance(exc, lx.LDAPNoSuchObjectResult):
        return DirectoryError(f"Cannot {what}: no such entry in the directory.")
    if isinstance(exc, lx.LDAPOperationResult):
        return DirectoryError(f"The directory refused to {what}: {exc.description} ({exc.message}).")
    return DirectoryError(f"Cannot {what}: {type(exc).__name__}: {exc}")


class LdapDirectory:
    """The directory ``LdapSettings`` names. Build it where needed; ``await aclose()`` when done.

    Parameters: ``settings`` (``settings.ldap``) and the service account's ``bind_password`` in clear
    (``bind_password(settings)`` decrypts the configured one); anonymous bind when ``bind_dn`` is unset.
    """

    def __init__(self, settings: LdapSettings, *, bind_password: SecretStr | None = None) -> None:
        if not settings.url:
            raise DirectoryError("No directory configured: set DESKMATE_LDAP_URL (docs/directory.md).")
        self.settings, self._password = settings, bind_password
        self.flavor = FLAVORS[settings.flavor]
        self.username_attribute = settings.username_attribute or self.flavor.username_attribute
        self.user_class = settings.user_object_class or self.flavor.user_object_class
        self.group_class = settings.group_object_class or self.flavor.group_object_class
        tls = Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=str(settings.ca_file) if settings.ca_file else None)
        self._server = Server(settings.url, get_info=NONE, tls=tls, connect_timeout=settings.connect_timeout_s)
        self._idle: list[Connection] = []
        self._lock = threading.Lock()
        self._slots = asyncio.Semaphore(settings.pool_size)
        self._lockout_durations: dict[str, int | None] = {}

    # ---------- connections ----------

    def _open(self) -> Connection:
        s = self.settings
        return Connection(self._server, user=s.bind_dn, password=self._password.get_secret_value() if self._password
                          else None, auto_bind=AUTO_BIND_TLS_BEFORE_BIND if s.start_tls else AUTO_BIND_NO_TLS,
                          raise_exceptions=True, receive_timeout=math.ceil(s.timeout_s), read_only=False)

    def _with_connection(self, what: str, op: Callable[[Connection], T]) -> T:
        with self._lock:
            pooled = self._idle.pop() if self._idle else None
        if pooled is not None:
            try:
                return self._on(pooled, op)
            except _BROKEN:  # closed while idle (server restart, idle timeout): once more on a new connection
                log.info("directory: a pooled connection was closed, reconnecting")
            except lx.LDAPException as exc:
                raise translate(exc, what) from exc
        try:
            return self._on(self._open(), op)
        except lx.LDAPException as exc:
            raise translate(exc, what) from exc

    def _on(self, conn: Connection, op: Callable[[Connection], T]) -> T:
        """``op(conn)``; the connection goes back to the pool unless it broke."""
        keep = True
        try:
            return op(conn)
        except _BROKEN:
            keep = False
            raise
        finally:
            if keep and conn.bound:
                with self._lock:
                    self._idle.append(conn)
            else:
                self._close(conn)

    @staticmethod
    def _close(conn: Connection) -> None:
        try:
            conn.unbind()
        except lx.LDAPException:
            pass

    async def _call(self, what: str, op: Callable[[Connection], T]) -> T:
        async with self._slots:
            return await asyncio.to_thread(self._with_connection, what, op)

    async def aclose(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            await asyncio.to_thread(self._close, conn)

    # ---------- reading ----------

    def _user(self, conn: Connection, dn: str, attrs: Attrs) -> DirectoryUser:
        return DirectoryUser(
            dn=dn, username=first(attrs, self.username_attribute) or dn, email=first(attrs, "mail"),
            display_name=first(attrs, "displayName") or first(attrs, "cn"), mobile=first(attrs, "mobile"),
            manager_dn=first(attrs, "manager"),
            locked=self.flavor.locked(attrs, lockout_duration_s=self._lockout_duration(conn, attrs),
                                      now=datetime.now(UTC)),
            must_change_password=self.flavor.must_change_password(attrs))

    def _lockout_duration(self, conn: Connection, attrs: Attrs) -> int | None:
        """pwdLockoutDuration of the user's password policy (OpenLDAP), read once per policy; None if unknown."""
        policy = first(attrs, "pwdPolicySubentry") or self.settings.ppolicy_dn
        if self.flavor.name != "openldap" or not first(attrs, "pwdAccountLockedTime") or not policy:
            return None
        if policy not in self._lockout_durations:
            try:
                conn.search(policy, "(objectClass=pwdPolicy)", BASE, attributes=["pwdLockoutDuration"])
                found = [_attrs(e) for e in conn.response if e["type"] == "searchResEntry"]
            except (lx.LDAPNoSuchObjectResult, lx.LDAPInsufficientAccessRightsResult):
                found = []
            value = first(found[0], "pwdLockoutDuration") if found else None
            self._lockout_durations[policy] = int(value) if value is not None else None
        return self._lockout_durations[policy]

    def _search_users(self, conn: Connection, base: str, flt: str, scope: str) -> list[DirectoryUser]:
        conn.search(base, flt, scope, attributes=self.flavor.user_attributes(self.username_attribute))
        entries = [(e["dn"], _attrs(e)) for e in conn.response if e["type"] == "searchResEntry"]
        return [self._user(conn, dn, attrs) for dn, attrs in entries]

    async def find_user(self, *, username: str | None = None, email: str | None = None) -> DirectoryUser | None:
        """The one user with this username and/or e-mail (both must match when both are given), or None.

        Raises DirectoryError when more than one entry matches.
        """
        if username is None and email is None:
            raise ValueError("find_user needs a username or an e-mail")
        terms = [f"(objectClass={escape_filter_chars(self.user_class)})"]
        if username is not None:
            terms.append(f"({self.username_attribute}={escape_filter_chars(username)})")
        if email is not None:
            terms.append(f"(mail={escape_filter_chars(email)})")
        found = await self._call("find a user", lambda conn: self._search_users(
            conn, self.settings.users_base, f"(&{''.join(terms)})", SUBTREE))
        if len(found) > 1:
            raise DirectoryError(f"{len(found)} directory entries match this user; ask an administrator to fix them.")
        return found[0] if found else None

    async def get_user(self, dn: str) -> DirectoryUser:
        found = await self._call(f"read the user {dn}", lambda conn: self._search_users(
            conn, dn, f"(objectClass={escape_filter_chars(self.user_class)})", BASE))
        if not found:
            raise DirectoryError(f"Cannot read the user {dn}: the entry is not a user.")
        return found[0]

    async def manager(self, user: DirectoryUser) -> DirectoryUser | None:
        """The user's manager (the ``manager`` attribute), or None when unset or pointing at no entry."""
        if not user.manager_dn:
            return None
        try:
            return await self.get_user(user.manager_dn)
        except DirectoryUnavailable:
            raise
        except DirectoryError:
            log.warning("directory: the manager of %s (%s) is not a readable user", user.dn, user.manager_dn)
            return None

    def _group(self, attrs: Attrs, dn: str) -> DirectoryGroup:
        base = self.settings.requestable_base
        return DirectoryGroup(dn=dn, name=first(attrs, "cn") or dn, description=first(attrs, "description"),
                              requestable=bool(base) and _under(dn, base or ""),
                              owner_dn=first(attrs, "owner") or first(attrs, "managedBy"))

    def _search_groups(self, conn: Connection, base: str, flt: str) -> list[DirectoryGroup]:
        entries = conn.extend.standard.paged_search(base, flt, SUBTREE, attributes=[
            "cn", "description", "owner", "managedBy"], paged_size=500, generator=False)
        groups = [self._group(_attrs(e), e["dn"]) for e in entries if e["type"] == "searchResEntry"]
        return sorted(groups, key=lambda g: g.name.lower())

    async def groups_of(self, user: DirectoryUser) -> list[DirectoryGroup]:
        """The groups that list the user as a direct member (AD: nested membership too), by name."""
        member = "member:1.2.840.113556.1.4.1941:" if self.flavor.name == "ad" else "member"
        flt = f"(&(objectClass={escape_filter_chars(self.group_class)})({member}={escape_filter_chars(user.dn)}))"
        return await self._call(f"read the groups of {user.dn}",
                                lambda conn: self._search_groups(conn, self.settings.groups_base, flt))

    async def requestable_groups(self) -> list[DirectoryGroup]:
        """The groups under ``DESKMATE_LDAP_REQUESTABLE_BASE`` (none when it is unset), by name."""
        base = self.settings.requestable_base
        if not base:
            return []
        flt = f"(objectClass={escape_filter_chars(self.group_class)})"
        return await self._call("read the requestable groups", lambda conn: self._search_groups(conn, base, flt))

    # ---------- changing ----------

    async def unlock(self, user: DirectoryUser, *, idempotency_key: str) -> None:
        """Removes the lock (idempotent: an unlocked account stays as it is)."""
        def op(conn: Connection) -> None:
            conn.modify(user.dn, self.flavor.unlock_changes())
            if self.flavor.name == "openldap":
                self._clear_failures(conn, user.dn)
        await self._call(f"unlock {user.dn}", op)
        log.info("directory: unlocked %s (step %s)", user.dn, idempotency_key)

    @staticmethod
    def _clear_failures(conn: Connection, dn: str) -> None:
        """Clears the failed-bind count too when the account has ``manage`` rights; else slapd clears it at
        the user's next successful bind (docs/directory.md)."""
        try:
            conn.modify(dn, {"pwdFailureTime": [(MODIFY_REPLACE, [])]}, controls=[RELAX_CONTROL])
        except (lx.LDAPInsufficientAccessRightsResult, lx.LDAPConstraintViolationResult,
                lx.LDAPUnavailableCriticalExtensionResult, lx.LDAPUnwillingToPerformResult):
            log.debug("directory: pwdFailureTime of %s left for slapd to clear", dn)

    async def set_one_time_password(self, user: DirectoryUser, password: SecretStr, *, idempotency_key: str) -> None:
        """Sets ``password`` and flags it "must change at next logon". Repeating it with the same password
        leaves the same state (the engine repeats a step with the password it stored for the step)."""
        def op(conn: Connection) -> None:
            if self.flavor.name == "ad":
                conn.extend.microsoft.modify_password(user.dn, password.get_secret_value())
            else:  # the Password Modify extended operation: slapd hashes the password (RFC 3062)
                conn.extend.standard.modify_password(user.dn, new_password=password.get_secret_value())
            conn.modify(user.dn, self.flavor.must_change_changes())
        await self._call(f"set a one-time password for {user.dn}", op)
        log.info("directory: one-time password set for %s (step %s)", user.dn, idempotency_key)

    async def _change_member(self, group: DirectoryGroup, user: DirectoryUser, *, add: bool, what: str,
                             key: str) -> None:
        """Adds or deletes the ``member`` value; the refusal that says it is already so is success."""
        already: type[lx.LDAPOperationResult] = lx.LDAPAttributeOrValueExistsResult if add \
            else lx.LDAPNoSuchAttributeResult

        def op(conn: Connection) -> None:
            try:
                conn.modify(group.dn, {"member": [(MODIFY_ADD if add else MODIFY_DELETE, [user.dn])]})
            except already:
                log.info("directory: nothing to do to %s (step %s)", what, key)
        await self._call(what, op)

    async def add_to_group(self, user: DirectoryUser, group: DirectoryGroup, *, idempotency_key: str) -> None:
        """Adds the user to the group's ``member`` values; already a member: nothing changes."""
        await self._change_member(group, user, add=True, what=f"add {user.dn} to {group.dn}", key=idempotency_key)

    async def remove_from_group(self, user: DirectoryUser, group: DirectoryGroup, *,
                                idempotency_key: str) -> None:
        """Removes the user from the group's ``member`` values; not a member: nothing changes. Removing the
        last member of a groupOfNames is refused by the server (the class requires one)."""
        await self._change_member(group, user, add=False, what=f"remove {user.dn} from {group.dn}",
                                  key=idempotency_key)
