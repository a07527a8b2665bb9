"""The engine's seams: what a run talks to besides Postgres, injectable per process.

- ``directory``: a ``Directory`` connector (api/integrations/directory.py): the LDAP connector when
  ``DESKMATE_LDAP_URL`` is set (``default``); until one is configured every directory step stops its run with a
  clear reason.
- ``step_up``: the step-up identity check (api/stepup). Called by ``step_up`` steps with the run's connection, its
  requester, conversation and the factor the definition asks for; answers ``passed`` (a recent pass of the
  requester in the run's conversation), ``failed`` (no conversation, step-up locked, or the account is not the
  requester's) or ``pending`` (no pass yet: the step runs again later).
- ``deliver_secret``: sends a one-time password out of band (SMS or e-mail to the factor on file in the directory,
  api/stepup/delivery.py); returns the channel's name. Never the chat, never a stored result.
- ``notify``: tells someone something about the run (``notify`` steps); the default writes a public comment
  on the run's ticket, which the alert rules and the widget already carry to the employee.

The worker and the api use ``current(settings)``: what ``install`` put in place (tests, a deployment that wires
its own), else the process's ``default(settings)``, built on first use and closed by ``close_default()`` when the
process stops.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Literal, cast

from pydantic import BaseModel, SecretStr

from api import sql
from api.db import Conn
from api.integrations.directory import Directory, DirectoryError, DirectoryGroup, DirectoryUser
from api.integrations.ldap import connect as ldap
from api.settings import Settings
from api.stepup import delivery
from api.stepup import service as stepup

log = logging.getLogger(__name__)
Q = sql.load("api.workflows")

StepUpAnswer = Literal["passed", "failed", "pending"]


class StepUpRequest(BaseModel):
    run_id: int
    requester_id: int
    conversation_id: str | None = None  # the chat conversation the run was started from
    username: str | None
    factor: str


StepUpCheck = Callable[[Conn, StepUpRequest], Awaitable[StepUpAnswer]]
SecretDelivery = Callable[[DirectoryUser, SecretStr], Awaitable[str]]


class _NoDirectory:
    """Stands in until a connector is configured: every call is refused with the reason."""

    def __getattr__(self, name: str) -> Callable[..., Awaitable[None]]:
        async def refuse(*_: object, **__: object) -> None:
            raise DirectoryError("No directory connector is configured (see docs/workflows.md).")
        return refuse


async def _refuse_step_up(_: Conn, __: StepUpRequest) -> StepUpAnswer:
    return "failed"


async def _refuse_delivery(_: DirectoryUser, __: SecretStr) -> str:
    raise DirectoryError("No out-of-band delivery for one-time passwords is configured.")


@dataclass(frozen=True)
class Runtime:
    directory: Directory
    step_up: StepUpCheck = _refuse_step_up
    deliver_secret: SecretDelivery = _refuse_delivery
    notify: Callable[[int, str], Awaitable[None]] | None = None  # (run id, text); None: a ticket comment


_installed: list[Runtime] = []


def install(runtime: Runtime) -> None:
    """Makes ``runtime`` the one this process's runs use (until ``uninstall``)."""
    _installed.append(runtime)


def uninstall(runtime: Runtime) -> None:
    if runtime in _installed:
        _installed.remove(runtime)


async def check_step_up(conn: Conn, request: StepUpRequest, *, settings: Settings,
                        directory: Directory) -> StepUpAnswer:
    """The step-up answer for a run: ``passed`` when its requester passed recently in the run's conversation
    (with the factor the step asks for, unless ``any``) and the account it acts on is theirs."""
    if request.conversation_id is None:  # not started from a chat turn: nobody to prove it is them
        return "failed"
    if await stepup.locked(conn, user_id=request.requester_id):
        return "failed"
    proof = await stepup.recent(conn, settings, user_id=request.requester_id, conversation_id=request.conversation_id)
    if proof is None or request.factor not in ("any", proof.factor):
        return "pending"
    if request.username is not None and not await _owns(conn, directory, request):
        log.warning("step-up: the account is not the requester's", extra={"run_id": request.run_id})
        return "failed"
    return "passed"


async def _owns(conn: Conn, directory: Directory, request: StepUpRequest) -> bool:
    """Whether the directory account ``request.username`` has the requester's e-mail address."""
    row = await (await conn.execute(Q.requester_email, {"user_id": request.requester_id})).fetchone()
    user = await directory.find_user(username=request.username)
    return row is not None and user is not None and (user.email or "").lower() == row["email"].lower()


async def deliver(user: DirectoryUser, secret: SecretStr, *, settings: Settings) -> str:
    """Sends a one-time password to the factor on file (api/stepup/delivery.py); returns the channel."""
    return await delivery.send_password(settings, user=user, password=secret, key=f"otp-{secrets.token_hex(8)}")


def default(settings: Settings) -> Runtime:
    """The runtime the settings describe: the LDAP connector when DESKMATE_LDAP_URL is set (else directory steps
    are refused), the step-up check of api/stepup, delivery by SMS or e-mail. Close it with ``close``."""
    directory = cast(Directory, ldap.directory(settings) if settings.ldap.url else _NoDirectory())
    return Runtime(directory=directory, step_up=partial(check_step_up, settings=settings, directory=directory),
                   deliver_secret=partial(deliver, settings=settings))


def has_directory(runtime: Runtime) -> bool:
    """Whether ``runtime`` has a directory connector (not the stand-in that refuses every call)."""
    return not isinstance(runtime.directory, _NoDirectory)


async def close(runtime: Runtime) -> None:
    """Closes what ``runtime`` holds open (the directory's connections)."""
    if has_directory(runtime):
        await runtime.directory.aclose()


_default: list[Runtime] = []  # this process's default, built on first use


def current(settings: Settings) -> Runtime:
    if _installed:
        return _installed[-1]
    if not _default:
        _default.append(default(settings))
    return _default[0]


async def close_default() -> None:
    """Closes the process's default runtime, if one was built (the api and the worker, when they stop)."""
    while _default:
        await close(_default.pop())


__all__ = ["DirectoryGroup", "Runtime", "StepUpAnswer", "StepUpCheck", "StepUpRequest", "check_step_up", "close",
           "close_default", "current", "default", "deliver", "has_directory", "install", "uninstall"]
