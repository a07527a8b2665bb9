"""The error tree drawn in api/errors.py's docstring is the tree of DeskmateError's subclasses."""

from __future__ import annotations

import re

import api.app  # noqa: F401  (imports every room, so every subclass is defined)
from api import errors


def _drawn() -> dict[str, str | None]:
    """Each class of the drawing and its parent, from the indentation of the tree."""
    parents: dict[str, str | None] = {}
    stack: list[tuple[int, str]] = []
    for line in (errors.__doc__ or "").splitlines():
        match = re.match(r"^(\s*(?:[│ ]   )*)(?:[├└]── )?(\w+) \(", line)
        if not match or not match.group(2)[0].isupper():
            continue
        depth = match.start(2)
        while stack and stack[-1][0] >= depth:
            stack.pop()
        parents[match.group(2)] = stack[-1][1] if stack else None
        stack.append((depth, match.group(2)))
    return parents


def _defined(cls: type = errors.DeskmateError) -> dict[str, str | None]:
    tree: dict[str, str | None] = {cls.__name__: None} if cls is errors.DeskmateError else {}
    for sub in cls.__subclasses__():
        tree[sub.__name__] = cls.__name__
        tree |= _defined(sub)
    return tree


def test_the_drawn_error_tree_matches_the_classes():
    assert _drawn() == _defined()
