"""Loads named SQL statements from a package's ``queries.sql`` (``-- name: <name>`` headers)."""

from __future__ import annotations

import re
from importlib import resources

_HEADER = re.compile(r"^--\s*name:\s*(\w+)\s*$", re.MULTILINE)


class Queries:
    """Named statements as attributes: ``Q.create_ticket``."""

    def __init__(self, statements: dict[str, str]) -> None:
        self._statements = statements

    def __getattr__(self, name: str) -> str:
        try:
            return self._statements[name]
        except KeyError as exc:
            raise AttributeError(f"no query named {name!r}") from exc

    def __contains__(self, name: str) -> bool:
        return name in self._statements


def parse(text: str) -> Queries:
    """Splits a SQL file into named statements; the text before the first header is ignored."""
    parts = _HEADER.split(text)
    statements: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in statements:
            raise ValueError(f"query {name!r} is defined twice")
        statements[name] = body.strip().rstrip(";")
    return Queries(statements)


def load(package: str, filename: str = "queries.sql") -> Queries:
    """Reads ``filename`` from ``package`` once, at import time of the caller."""
    return parse(resources.files(package).joinpath(filename).read_text(encoding="utf-8"))
