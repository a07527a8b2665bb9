"""Data files beside the definitions, read and validated with pydantic: the error names the file and every
problem (``data/workflows/*.yml``, ``catalogue/software.yml``)."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from api.errors import ValidationFailed

M = TypeVar("M", bound=BaseModel)


class DefinitionError(ValidationFailed):
    """A definition file does not validate; the detail names the file and every problem."""


def explain(path: Path, exc: ValidationError) -> str:
    lines = []
    for e in exc.errors():
        where = ".".join(str(p) for p in e["loc"])
        msg = e["msg"].removeprefix("Value error, ")
        lines.append(f"{where}: {msg}" if where else msg)
    return f"{path.name}: " + "; ".join(lines)


def read(path: Path, model: type[M]) -> M:
    """The YAML file ``path`` as ``model``; DefinitionError with every problem when it does not validate."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise DefinitionError(f"{path.name}: not YAML: {exc}") from exc
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise DefinitionError(explain(path, exc)) from exc
