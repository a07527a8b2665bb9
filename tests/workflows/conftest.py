"""Fixtures of the workflow tests: the in-memory directory installed as the engine's runtime, the built-in
definitions stored, an employee to run workflows for; or the real runtime wired to the session's slapd."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from fakes.slapd_server import PASSWORDS, Slapd, ldap_settings
from pydantic import SecretStr
from workflows_support import MemoryDirectory

from api.auth.models import Role
from api.db import Conn
from api.integrations.directory import DirectoryUser
from api.settings import Settings
from api.workflows import catalog
from api.workflows import runtime as runtimes
from api.workflows.runtime import StepUpRequest


@pytest.fixture
async def directory(conn, settings) -> AsyncIterator[MemoryDirectory]:
    """A MemoryDirectory the engine uses; step-up passes unless ``directory.step_up_answer`` says otherwise."""
    memory = MemoryDirectory()
    memory.step_up_answer = "passed"  # type: ignore[attr-defined]
    memory.step_ups: list[StepUpRequest] = []  # type: ignore[misc]
    memory.delivered: list[tuple[str, str]] = []  # type: ignore[misc]

    async def step_up(_: Conn, request: StepUpRequest) -> Any:
        memory.step_ups.append(request)  # type: ignore[attr-defined]
        return memory.step_up_answer  # type: ignore[attr-defined]

    async def deliver(user: DirectoryUser, secret: SecretStr) -> str:
        memory.delivered.append((user.dn, secret.get_secret_value()))  # type: ignore[attr-defined]
        return "sms"

    await catalog.sync(conn, [w.workflow for w in catalog.load_dir(settings.workflows_dir)])
    installed = runtimes.Runtime(directory=memory, step_up=step_up, deliver_secret=deliver)
    runtimes.install(installed)
    yield memory
    runtimes.uninstall(installed)


@pytest.fixture
async def employee(make_actor):
    return await make_actor(Role.employee)


@pytest.fixture
async def wired(conn, delivery_settings: Settings, slapd: Slapd) -> AsyncIterator[Settings]:
    """The built-in definitions stored and ``runtime.default`` installed with the settings of the session's slapd:
    the LDAP connector, the step-up check, delivery to the SMTP server and the Twilio fake."""
    settings = delivery_settings.model_copy(update={
        "ldap": ldap_settings(slapd, bind_password=SecretStr(PASSWORDS["deskmate"]))})
    await catalog.sync(conn, [w.workflow for w in catalog.load_dir(settings.workflows_dir)])
    runtime = runtimes.default(settings)
    runtimes.install(runtime)
    yield settings
    runtimes.uninstall(runtime)
    await runtimes.close(runtime)
