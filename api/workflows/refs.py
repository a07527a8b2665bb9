"""References from a definition to a run's data: ``$inputs.username``, ``$steps.find.dn``, ``{inputs.group}``.

An argument that is a string starting with ``$`` is replaced by the value it names (any JSON value); a text
(ticket comment, notification) has ``{inputs.x}`` / ``{steps.id.field}`` placeholders replaced by their text.
Nothing is evaluated: a reference is a path into the run's inputs and earlier steps' results, no more.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

PATH = r"(inputs|steps)((?:\.[A-Za-z0-9_]+)+)"
_REF = re.compile(rf"^\${PATH}$")
_PLACEHOLDER = re.compile(rf"\{{{PATH}\}}")


class RefError(ValueError):
    """A reference names nothing in the run's data."""


def parse(value: Any) -> tuple[str, list[str]] | None:
    """``("steps", ["find", "dn"])`` for ``"$steps.find.dn"``; None when ``value`` is not a reference."""
    if not isinstance(value, str) or not value.startswith("$"):
        return None
    match = _REF.match(value)
    if match is None:
        raise RefError(f"{value!r} is not a reference: write $inputs.<name> or $steps.<step id>[.<field>…]")
    return match[1], match[2].lstrip(".").split(".")


def placeholders(text: str) -> list[tuple[str, list[str]]]:
    """The references a text's ``{inputs.x}`` / ``{steps.id.field}`` placeholders make."""
    return [(m[1], m[2].lstrip(".").split(".")) for m in _PLACEHOLDER.finditer(text)]


def lookup(data: dict[str, Any], root: str, path: list[str]) -> Any:
    """The value at ``root.path`` in ``data`` (``{"inputs": …, "steps": …}``)."""
    value: Any = data[root]
    for i, part in enumerate(path):
        if not isinstance(value, dict) or part not in value:
            raise RefError(f"{root}.{'.'.join(path[:i + 1])} is not there")
        value = value[part]
    return value


def resolve(value: Any, data: dict[str, Any]) -> Any:
    """``value`` with references replaced (recursively in lists and mappings)."""
    if isinstance(value, dict):
        return {k: resolve(v, data) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, data) for v in value]
    ref = parse(value)
    return lookup(data, *ref) if ref else value


def render(text: str, data: dict[str, Any], *, escape: Callable[[str], str] = str) -> str:
    """``text`` with its placeholders replaced by the values' text (passed through ``escape``: a URL path's)."""
    return _PLACEHOLDER.sub(lambda m: escape(str(lookup(data, m[1], m[2].lstrip(".").split(".")))), text)
