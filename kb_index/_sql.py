"""The index's SQL: named statements of kb_index/queries.sql, read once with importlib.resources.

kb_index is a library and does not import the app, so it reads its own file (``-- name: <name>`` headers).
"""

from __future__ import annotations

import re
from importlib import resources
from types import SimpleNamespace

_HEADER = re.compile(r"^--\s*name:\s*(\w+)\s*$", re.MULTILINE)


def load(filename: str = "queries.sql") -> SimpleNamespace:
    """The statements of ``filename`` in this package as attributes (``Q.search_vector``)."""
    parts = _HEADER.split(resources.files(__package__).joinpath(filename).read_text(encoding="utf-8"))
    return SimpleNamespace(**{name: body.strip().rstrip(";") for name, body in zip(parts[1::2], parts[2::2],
                                                                                    strict=True)})


Q = load()
