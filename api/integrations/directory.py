"""The directory a workflow acts on: what every connector (LDAP / Active Directory today) offers the engine.

Operations that change the directory take an ``idempotency_key`` (the workflow step's key): applying the same
step twice — a worker killed after the change and before the run's state was stored — must leave the
directory as one application would. Membership and unlock are idempotent by nature; a connector records what
it needs to honour the key for the others.

Errors: ``DirectoryUnavailable`` (network, timeout, server busy: the engine retries with backoff) and
``DirectoryError`` (refused: no such user, insufficient rights, policy violation: the run stops with its text).
Filters built from user input are always escaped by the connector: a name like ``*)(uid=*`` finds nothing.
"""
from __future__ import annotations

from typing import Protocol

from pydantic import BaseModel, Field, SecretStr


class DirectoryUser(BaseModel):
    """A person in the directory, as the engine needs them."""

    dn: str = Field(description="the entry's distinguished name (or the connector's stable id)")
    username: str
    email: str | None = None
    display_name: str | None = None
    mobile: str | None = Field(default=None, description="E.164 number on file: a step-up factor")
    manager_dn: str | None = None
    locked: bool = False
    must_change_password: bool = False


class DirectoryGroup(BaseModel):
    """A group; ``requestable`` ones form the access catalogue the bot offers."""

    dn: str
    name: str
    description: str | None = None
    requestable: bool = False
    owner_dn: str | None = None


class DirectoryError(Exception):
    """The directory refused the operation (the run stops with this text)."""


class DirectoryUnavailable(DirectoryError):
    """The directory could not be reached or was busy (the engine retries)."""


class Directory(Protocol):
    """What a directory connector implements; all methods are async and safe to call concurrently."""

    async def find_user(self, *, username: str | None = None, email: str | None = None) -> DirectoryUser | None: ...

    async def get_user(self, dn: str) -> DirectoryUser: ...

    async def unlock(self, user: DirectoryUser, *, idempotency_key: str) -> None: ...

    async def set_one_time_password(self, user: DirectoryUser, password: SecretStr, *,
                                    idempotency_key: str) -> None:
        """Sets ``password`` and flags it "must change at next logon"."""
        ...

    async def manager(self, user: DirectoryUser) -> DirectoryUser | None: ...

    async def groups_of(self, user: DirectoryUser) -> list[DirectoryGroup]: ...

    async def requestable_groups(self) -> list[DirectoryGroup]: ...

    async def add_to_group(self, user: DirectoryUser, group: DirectoryGroup, *, idempotency_key: str) -> None: ...

    async def remove_from_group(self, user: DirectoryUser, group: DirectoryGroup, *,
                                idempotency_key: str) -> None: ...

    async def aclose(self) -> None: ...
