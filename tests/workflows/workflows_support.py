"""Helpers for the workflow tests: an in-memory Directory that honours the protocol (idempotency keys, errors),
with faults to inject, and a way to run the engine's worker and read a run's ticket."""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from fakes.slapd_server import LAYOUT, Slapd
from fakes.triage import drain, worker_settings
from ldap3 import BASE
from pydantic import SecretStr

from api.auth import assertions
from api.auth.models import Role
from api.channels import Channel
from api.chat import service as chat
from api.db import Conn
from api.integrations.directory import DirectoryError, DirectoryGroup, DirectoryUnavailable, DirectoryUser
from api.jobs import worker as jobs_worker
from api.settings import Settings
from api.workflows import catalog
from api.workflows.definitions import Workflow


@dataclass
class MemoryDirectory:
    """A directory in memory. ``applied`` lists every change applied (operation, key); a change repeated with a
    key it has seen is not applied again (``replayed`` counts those). Faults:
    ``die_after_apply``: operations that, the first time, apply the change and then raise (the worker "dies"
    between the directory call and the state write); ``unavailable``: operation -> how many calls fail with
    DirectoryUnavailable before one succeeds (-1: always)."""

    users: dict[str, DirectoryUser] = field(default_factory=dict)
    groups: dict[str, DirectoryGroup] = field(default_factory=dict)
    members: set[tuple[str, str]] = field(default_factory=set)
    applied: list[tuple[str, str]] = field(default_factory=list)
    replayed: Counter[str] = field(default_factory=Counter)
    die_after_apply: set[str] = field(default_factory=set)
    unavailable: dict[str, int] = field(default_factory=dict)
    passwords: dict[str, str] = field(default_factory=dict)

    def add_user(self, username: str, **fields: Any) -> DirectoryUser:
        user = DirectoryUser(dn=f"uid={username},ou=people,dc=example,dc=com", username=username,
                             email=f"{username}@example.com", **fields)
        self.users[user.dn] = user
        return user

    def add_group(self, name: str) -> DirectoryGroup:
        group = DirectoryGroup(dn=f"cn={name},ou=groups,dc=example,dc=com", name=name, requestable=True)
        self.groups[group.dn] = group
        return group

    def _gate(self, operation: str) -> None:
        left = self.unavailable.get(operation, 0)
        if left:
            self.unavailable[operation] = left - 1 if left > 0 else left
            raise DirectoryUnavailable(f"{operation}: the directory server is busy")

    def _change(self, operation: str, key: str) -> bool:
        """Whether to apply the change (False: this key was applied before)."""
        self._gate(operation)
        if (operation, key) in self.applied:
            self.replayed[operation] += 1
            return False
        self.applied.append((operation, key))
        return True

    def _after(self, operation: str) -> None:
        if operation in self.die_after_apply:
            self.die_after_apply.discard(operation)
            raise RuntimeError(f"worker died after {operation}")

    async def find_user(self, *, username: str | None = None, email: str | None = None) -> DirectoryUser | None:
        self._gate("find_user")
        return next((u for u in self.users.values()
                     if (username is None or u.username == username) and (email is None or u.email == email)), None)

    async def get_user(self, dn: str) -> DirectoryUser:
        self._gate("get_user")
        if dn not in self.users:
            raise DirectoryError(f"no such entry {dn}")
        return self.users[dn]

    async def unlock(self, user: DirectoryUser, *, idempotency_key: str) -> None:
        if self._change("unlock", idempotency_key):
            self.users[user.dn] = self.users[user.dn].model_copy(update={"locked": False})
        self._after("unlock")

    async def set_one_time_password(self, user: DirectoryUser, password: SecretStr, *, idempotency_key: str) -> None:
        self._change("set_one_time_password", idempotency_key)  # applied again on replay: the newest one counts
        self.passwords[user.dn] = password.get_secret_value()
        self.users[user.dn] = self.users[user.dn].model_copy(update={"must_change_password": True})
        self._after("set_one_time_password")

    async def manager(self, user: DirectoryUser) -> DirectoryUser | None:
        return self.users.get(user.manager_dn or "")

    async def groups_of(self, user: DirectoryUser) -> list[DirectoryGroup]:
        self._gate("groups_of")
        return [self.groups[g] for u, g in sorted(self.members) if u == user.dn]

    async def requestable_groups(self) -> list[DirectoryGroup]:
        return [g for g in self.groups.values() if g.requestable]

    async def add_to_group(self, user: DirectoryUser, group: DirectoryGroup, *, idempotency_key: str) -> None:
        if self._change("add_to_group", idempotency_key):
            self.members.add((user.dn, group.dn))
        self._after("add_to_group")

    async def remove_from_group(self, user: DirectoryUser, group: DirectoryGroup, *, idempotency_key: str) -> None:
        if self._change("remove_from_group", idempotency_key):
            self.members.discard((user.dn, group.dn))

    async def aclose(self) -> None:
        return None


async def run_worker(settings: Settings, conn: Conn, **overrides: Any) -> None:
    """Runs the engine's queue until nothing is due (retries without backoff). A burst worker can end while a
    retried job is due (its retry lands after the burst looked), so this drains again until none is."""
    for _ in range(20):
        await drain(worker_settings(settings, workflow_backoff_base_s=0.0, **overrides), queues=["workflows"])
        if not await (await conn.execute(jobs_worker.Q.due_jobs, {"queues": ["workflows"]})).fetchall():
            return
    raise AssertionError("workflow jobs are still due after 20 bursts")


async def define(conn: Conn, body: dict[str, Any]) -> str:
    """Stores a test workflow under a fresh name; returns the name."""
    name = f"{body['name']}_{uuid.uuid4().hex[:8]}"
    await catalog.sync(conn, [Workflow.model_validate(body | {"name": name})])
    return name


async def ticket_of(conn: Conn, run_id: int) -> dict[str, Any]:
    row = await (await conn.execute("SELECT t.* FROM tickets_v t JOIN workflow_runs r ON r.ticket_id = t.id "
                                    "WHERE r.id = %s", (run_id,))).fetchone()
    assert row is not None
    return dict(row)


async def events_of(conn: Conn, ticket_id: int) -> list[dict[str, Any]]:
    return list(await (await conn.execute("SELECT kind, after FROM ticket_events WHERE ticket_id = %s ORDER BY id",
                                          (ticket_id,))).fetchall())


async def expire_approval(conn: Conn, run_id: int) -> int:
    """The run's approval request expires now and its timeout job becomes due (time moves, nobody sleeps)."""
    row = await (await conn.execute("UPDATE workflow_approvals SET expires_at = now() - interval '1 second' "
                                    "WHERE run_id = %s RETURNING id", (run_id,))).fetchone()
    assert row is not None
    await conn.execute("UPDATE procrastinate_jobs SET scheduled_at = now() WHERE task_name = 'workflows.approval_timeout'"
                       " AND status = 'todo' AND (args->>'approval_id')::bigint = %s", (row["id"],))
    return int(row["id"])


def organisation(slapd: Slapd, *, employee: str, manager: str) -> tuple[str, str, str]:
    """A manager and their report (with these e-mail addresses) and a requestable group: (uid, dn, group dn)."""
    tag = uuid.uuid4().hex[:8]
    boss, uid, group = LAYOUT.person(f"mgr{tag}"), f"emp{tag}", f"cn=share-{tag},{LAYOUT.requestable}"
    admin = slapd.admin()
    try:
        admin.add(boss, ["inetOrgPerson"], {"uid": f"mgr{tag}", "cn": "Morgan Manager", "sn": "Manager", "mail": manager})
        admin.add(LAYOUT.person(uid), ["inetOrgPerson"], {"uid": uid, "cn": uid, "sn": uid, "mail": employee,
                                                          "manager": boss})
        admin.add(group, ["groupOfNames"], {"cn": f"share-{tag}", "member": boss})
    finally:
        admin.unbind()
    return uid, LAYOUT.person(uid), group


def members(slapd: Slapd, group: str) -> list[str]:
    admin = slapd.admin()
    try:
        admin.search(group, "(objectClass=*)", BASE, attributes=["member"])
        return [str(m) for m in admin.entries[0].member.values]
    finally:
        admin.unbind()


async def chat_turn(conn: Conn, settings: Settings, make_actor: Any, employee: Any) -> dict[str, str]:
    """The action server's headers in a chat turn of ``employee``."""
    bot = await make_actor(Role.service)
    conversation = str(await chat.start(conn, channel=Channel.web, employee=employee.user, channel_user=None))
    return bot.headers | {"X-Deskmate-Assertion": assertions.mint(settings, subject=employee.user.email,
                                                                   conversation_id=conversation)}
