"""The access catalogue (the ``access_request`` workflow): the directory's requestable groups, as the bot offers
them to an employee before it starts a run for the one they pick; and the employee's own directory account, which
a run started from the chat acts on when the bot leaves ``username`` out (it never learns who the employee is)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from api import sql
from api.db import Conn
from api.errors import IntegrationError
from api.integrations.directory import DirectoryError, DirectoryUnavailable
from api.settings import Settings
from api.workflows import runtime as runtimes

Q = sql.load("api.workflows")


class CatalogueGroup(BaseModel):
    """A group an employee may ask to join; ``dn`` is the ``group_dn`` input of ``access_request``."""

    name: str
    description: str | None = Field(description="what membership gives, from the directory")
    dn: str


class NoDirectory(IntegrationError):
    """No directory connector is configured (DESKMATE_LDAP_URL unset): there is no catalogue to offer."""

    status, type, title = 503, "/problems/no-directory", "No directory is configured"


class DirectoryFailed(IntegrationError):
    """The directory could not be read (unreachable, refused)."""

    type, title = "/problems/directory", "The directory failed"


async def catalogue(settings: Settings) -> list[CatalogueGroup]:
    """The requestable groups, by name. Raises NoDirectory, DirectoryFailed."""
    runtime = runtimes.current(settings)
    if not runtimes.has_directory(runtime):
        raise NoDirectory("No directory connector is configured, so there is no catalogue of requestable groups "
                          "(docs/workflows.md).")
    try:
        groups = await runtime.directory.requestable_groups()
    except DirectoryError as exc:
        raise DirectoryFailed(f"reading the requestable groups: {exc}",
                              permanent=not isinstance(exc, DirectoryUnavailable)) from exc
    return sorted((CatalogueGroup(name=g.name, description=g.description, dn=g.dn) for g in groups),
                  key=lambda g: g.name.lower())


async def with_own_account(conn: Conn, settings: Settings, *, name: str, inputs: dict[str, Any],
                           user_id: int) -> dict[str, Any]:
    """``inputs`` with ``username`` set to the employee's own directory account (found by their e-mail address)
    when workflow ``name`` takes a username and none was given; else ``inputs`` as they are (the engine then
    says what is missing). Raises DirectoryFailed."""
    if "username" in inputs:
        return inputs
    workflow = await (await conn.execute(Q.list_workflows, {"name": name})).fetchone()
    runtime = runtimes.current(settings)
    if workflow is None or "username" not in (workflow["body"].get("inputs") or {}) \
            or not runtimes.has_directory(runtime):
        return inputs
    row = await (await conn.execute(Q.requester_email, {"user_id": user_id})).fetchone()
    try:
        account = await runtime.directory.find_user(email=row["email"]) if row else None
    except DirectoryError as exc:
        raise DirectoryFailed(f"finding the employee's account: {exc}",
                              permanent=not isinstance(exc, DirectoryUnavailable)) from exc
    return {**inputs, "username": account.username} if account else inputs
