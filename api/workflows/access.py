"""The access catalogue (the ``access_request`` workflow): the directory's requestable groups, as the bot offers
them to an employee before it starts a run for the one they pick; and the employee's own directory account, which
a run started from the chat acts on when the bot leaves ``username`` out (it never learns who the employee is)."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, TypeVar

from pydantic import BaseModel, Field

from api import sql
from api.db import Conn
from api.errors import Forbidden, IntegrationError, ValidationFailed
from api.integrations.directory import DirectoryError, DirectoryUnavailable
from api.settings import Settings
from api.workflows import runtime as runtimes
from api.workflows import software

Q = sql.load("api.workflows")
T = TypeVar("T")


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


async def _read(what: str, call: Awaitable[T]) -> T:
    """``call``'s answer; a DirectoryError becomes DirectoryFailed (permanent unless the directory was unreachable)."""
    try:
        return await call
    except DirectoryError as exc:
        raise DirectoryFailed(f"{what}: {exc}", permanent=not isinstance(exc, DirectoryUnavailable)) from exc


async def catalogue(settings: Settings) -> list[CatalogueGroup]:
    """The requestable groups, by name. Raises NoDirectory, DirectoryFailed."""
    runtime = runtimes.current(settings)
    if not runtimes.has_directory(runtime):
        raise NoDirectory("No directory connector is configured, so there is no catalogue of requestable groups "
                          "(docs/workflows.md).")
    groups = await _read("reading the requestable groups", runtime.directory.requestable_groups())
    return sorted((CatalogueGroup(name=g.name, description=g.description, dn=g.dn) for g in groups),
                  key=lambda g: g.name.lower())


def _same_dn(dn: str) -> str:
    return ",".join(part.strip() for part in dn.lower().split(","))


async def chat_inputs(conn: Conn, settings: Settings, *, name: str, inputs: dict[str, Any],
                      user_id: int) -> dict[str, Any]:
    """The inputs of a run the employee starts from the chat: a ``username`` the workflow takes but the bot left out
    is the employee's own directory account (found by their e-mail address); an input declared
    ``choices: requestable_groups`` must be the dn of a group in the catalogue (a typed ``/choose_group{…}`` asks
    for nothing else), one declared ``choices: software_catalogue`` the slug of a software catalogue item. Raises ValidationFailed (422), NoDirectory, DirectoryFailed."""
    workflow = await (await conn.execute(Q.list_workflows, {"name": name})).fetchone()
    specs: dict[str, Any] = (workflow["body"].get("inputs") or {}) if workflow else {}
    if "username" in specs and "username" not in inputs:
        inputs = await _with_own_account(conn, settings, inputs=inputs, user_id=user_id)
    elif "username" in specs and workflow is not None and not _checks_identity(workflow["body"]):
        # no step-up step proves the account is theirs: from the chat, only the employee's own account
        own = await _own_username(conn, settings, user_id=user_id)
        if own is None or _bare(str(inputs["username"])) != _bare(own):
            raise Forbidden(f"{name} from the chat acts on your own account only; leave the username out.")
    for key, spec in specs.items():
        if spec.get("choices") == "requestable_groups" and key in inputs:
            if _same_dn(str(inputs[key])) not in {_same_dn(g.dn) for g in await catalogue(settings)}:
                raise ValidationFailed(f"{key}: {inputs[key]!r} is not a requestable group (see "
                                       "GET /api/v1/workflows/access_request/catalogue).")
        if spec.get("choices") == "software_catalogue" and key in inputs:
            software.check_choice(settings, key=key, value=inputs[key])
    return inputs


def _checks_identity(definition: dict[str, Any]) -> bool:
    """Whether the workflow's own steps prove the account is the requester's (a step-up step checks that)."""
    return any(step.get("kind") == "step_up" for step in definition.get("steps") or [])


def _bare(username: str) -> str:
    """``CORP\\jordan.blake`` and ``Jordan.Blake`` name the same account as ``jordan.blake``."""
    return username.rpartition("\\")[2].strip().lower()


async def _own_username(conn: Conn, settings: Settings, *, user_id: int) -> str | None:
    """The employee's directory account (found by their e-mail address); None without a directory or account."""
    runtime = runtimes.current(settings)
    if not runtimes.has_directory(runtime):
        return None
    row = await (await conn.execute(Q.requester_email, {"user_id": user_id})).fetchone()
    account = await _read("finding the employee's account", runtime.directory.find_user(email=row["email"])) \
        if row else None
    return account.username if account else None


async def _with_own_account(conn: Conn, settings: Settings, *, inputs: dict[str, Any],
                            user_id: int) -> dict[str, Any]:
    own = await _own_username(conn, settings, user_id=user_id)
    return {**inputs, "username": own} if own else inputs  # without one, the engine says the username is missing
