"""The directory operations a definition may name, their arguments, and how a step calls them.

Each operation is a method of ``api.integrations.directory.Directory``. Arguments are typed by name: ``user``
is a ``DirectoryUser`` (a stored result of ``find_user``/``get_user``), ``group`` a ``DirectoryGroup``, the
rest plain strings. ``set_one_time_password`` takes no password from the definition: the engine makes one,
hands it to the connector and to the out-of-band delivery seam (runtime.py), and stores only how it went (the
channel, and the destination masked as the bot may show it).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, SecretStr

from api.integrations.directory import Directory, DirectoryGroup, DirectoryUser
from api.stepup import codes
from api.workflows.runtime import Runtime


@dataclass(frozen=True)
class Operation:
    args: tuple[str, ...]
    optional: tuple[str, ...] = ()
    changes: bool = False  # changes the directory: called with the step's idempotency key


OPERATIONS: dict[str, Operation] = {
    "find_user": Operation(args=(), optional=("username", "email")),
    "get_user": Operation(args=("dn",)),
    "manager": Operation(args=("user",)),
    "groups_of": Operation(args=("user",)),
    "requestable_groups": Operation(args=()),
    "unlock": Operation(args=("user",), changes=True),
    "set_one_time_password": Operation(args=("user",), changes=True),
    "add_to_group": Operation(args=("user", "group"), changes=True),
    "remove_from_group": Operation(args=("user", "group"), changes=True),
}
READS = frozenset(name for name, op in OPERATIONS.items() if not op.changes)
_TYPES: dict[str, type[BaseModel]] = {"user": DirectoryUser, "group": DirectoryGroup}


def check_args(operation: str, args: dict[str, Any]) -> str | None:
    """Why ``args`` do not fit ``operation`` (unknown operation, missing or unknown argument); None when they do."""
    op = OPERATIONS.get(operation)
    if op is None:
        return f"unknown directory operation {operation!r}; known: {', '.join(sorted(OPERATIONS))}"
    missing = [a for a in op.args if a not in args]
    extra = sorted(set(args) - set(op.args) - set(op.optional))
    if missing or extra:
        return (f"directory operation {operation!r} takes {', '.join(op.args + op.optional) or 'no arguments'}"
                + (f"; missing {', '.join(missing)}" if missing else "") + (f"; unknown {', '.join(extra)}" if extra else ""))
    return None


def masked(user: DirectoryUser, channel: str) -> str | None:
    """Where a one-time password went, as the employee may be told: ``+44 •••• ••12``, ``jo•••@example.com``."""
    if channel == "sms" and user.mobile:
        return codes.mask_phone(user.mobile)
    return codes.mask_email(user.email) if channel == "email" and user.email else None


def _typed(args: dict[str, Any]) -> dict[str, Any]:
    return {k: _TYPES[k].model_validate(v) if k in _TYPES else v for k, v in args.items()}


def dump(value: Any) -> Any:
    """A directory answer as JSON (users and groups as objects, lists as lists)."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list):
        return [dump(v) for v in value]
    return value


async def call(runtime: Runtime, operation: str, args: dict[str, Any], *, idempotency_key: str) -> Any:
    """Calls ``operation`` on the runtime's directory; returns its answer as JSON (never a secret)."""
    directory: Directory = runtime.directory
    typed = _typed(args)
    if operation == "set_one_time_password":
        password = SecretStr(secrets.token_urlsafe(12))
        await directory.set_one_time_password(typed["user"], password, idempotency_key=idempotency_key)
        channel = await runtime.deliver_secret(typed["user"], password)
        return {"must_change_password": True, "delivered_via": channel, "delivered_to": masked(typed["user"], channel)}
    op = OPERATIONS[operation]
    method = getattr(directory, operation)
    positional = [typed[a] for a in op.args]
    optional = {a: typed[a] for a in op.optional if a in typed}
    if op.changes:
        return dump(await method(*positional, **optional, idempotency_key=idempotency_key))
    return dump(await method(*positional, **optional))
