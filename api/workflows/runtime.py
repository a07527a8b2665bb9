"""The engine's seams: what a run talks to besides Postgres, injectable per process.

- ``directory``: a ``Directory`` connector (api/integrations/directory.py). The LDAP connector plugs in here
  (``default``); until one is configured every directory step stops its run with a clear reason.
- ``step_up``: the step-up identity check (api/stepup). Called by ``step_up`` steps with the run's requester
  and the factor the definition asks for; answers ``passed``, ``failed`` or ``pending`` (the code was sent and
  the employee has not answered yet: the step runs again later). The default fails closed.
- ``deliver_secret``: sends a one-time password out of band (SMS or e-mail to the factor on file); returns the
  channel's name. Never the chat, never a stored result. The default refuses.
- ``notify``: tells someone something about the run (``notify`` steps); the default writes a public comment
  on the run's ticket, which the alert rules and the widget already carry to the employee.

The worker and the api use ``current(settings)``: what ``install`` put in place (tests, a deployment that wires
its own), else ``default(settings)``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal, cast

from pydantic import BaseModel, SecretStr

from api.integrations.directory import Directory, DirectoryError, DirectoryGroup, DirectoryUser
from api.settings import Settings

StepUpAnswer = Literal["passed", "failed", "pending"]


class StepUpRequest(BaseModel):
    run_id: int
    requester_id: int
    username: str | None
    factor: str


StepUpCheck = Callable[[StepUpRequest], Awaitable[StepUpAnswer]]
SecretDelivery = Callable[[DirectoryUser, SecretStr], Awaitable[str]]


class _NoDirectory:
    """Stands in until a connector is configured: every call is refused with the reason."""

    def __getattr__(self, name: str) -> Callable[..., Awaitable[None]]:
        async def refuse(*_: object, **__: object) -> None:
            raise DirectoryError("No directory connector is configured (see docs/workflows.md).")
        return refuse


async def _refuse_step_up(_: StepUpRequest) -> StepUpAnswer:
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


def default(settings: Settings) -> Runtime:
    """The runtime the settings describe (today: no directory connector, step-up and delivery refused)."""
    del settings  # the LDAP connector and the step-up check read theirs here when they land
    return Runtime(directory=cast(Directory, _NoDirectory()))


def current(settings: Settings) -> Runtime:
    return _installed[-1] if _installed else default(settings)


__all__ = ["DirectoryGroup", "Runtime", "StepUpAnswer", "StepUpCheck", "StepUpRequest", "current", "install",
           "uninstall"]
