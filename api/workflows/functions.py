"""Code steps: Python functions registered here by name, the only code a definition can run.

A definition names a function (``kind: code, function: normalise_username``); nothing from data is ever
evaluated or passed to a shell. A function takes the step's resolved arguments as keywords and returns a
JSON value (the step's result, stored: never return a secret). One registered ``with_settings`` also gets the
process's settings as ``settings`` (where to find the catalogues).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from api.settings import Settings
from api.workflows import software

CodeFn = Callable[..., Awaitable[Any]]
FUNCTIONS: dict[str, CodeFn] = {}
WITH_SETTINGS: set[str] = set()


def register(name: str, *, with_settings: bool = False) -> Callable[[CodeFn], CodeFn]:
    """Registers ``func`` as the code step ``name``."""
    def add(func: CodeFn) -> CodeFn:
        if name in FUNCTIONS:
            raise ValueError(f"code step {name!r} is registered twice")
        FUNCTIONS[name] = func
        if with_settings:
            WITH_SETTINGS.add(name)
        return func
    return add


@register("normalise_username")
async def normalise_username(*, username: str) -> dict[str, str]:
    """``CORP\\jdoe``, ``jdoe@corp.example`` and `` JDoe `` all become ``jdoe``."""
    name = username.strip().rsplit("\\", 1)[-1].split("@", 1)[0]
    return {"username": name.lower()}


@register("software_item", with_settings=True)
async def software_item(*, item: str, settings: Settings) -> dict[str, Any]:
    """The software catalogue's item ``item`` as it is now: the run keeps it as the step's result."""
    return software.item(settings, slug=item)
