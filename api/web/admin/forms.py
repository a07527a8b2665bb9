"""What the admin pages' forms share: the API's pydantic model checks the form, and a refusal becomes messages
by field, so the form is shown again with each message beside its field and the input kept.

    errors = FormErrors()
    data = errors.parse(AlertRuleIn, fields)          # None when the model refused it; errors.by_field has why
    try: await service.create_rule(...)               # a refusal of the service (409, 422) goes to errors.general
    except DeskmateError as exc: errors.refused(exc)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, TypeVar

from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, ValidationError

from api.errors import DeskmateError
from api.web.pages import PAGE_HEADERS

M = TypeVar("M", bound=BaseModel)


@dataclass
class FormErrors:
    """The messages of a refused form: by field (the model's first location) and the general ones."""

    by_field: dict[str, str] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)
    status: int = 422

    def __bool__(self) -> bool:
        return bool(self.by_field or self.general)

    @property
    def summary(self) -> str | None:
        """What the page says above the form: the service's refusal, or which fields below need a change."""
        if self.general:
            return "; ".join(self.general)
        return f"Not saved: correct {', '.join(self.by_field)} (below)." if self.by_field else None

    @property
    def text(self) -> str:
        """Every message on one line (a page without a form to show them beside)."""
        return "; ".join(self.general + [f"{name}: {message}" for name, message in self.by_field.items()])

    def add(self, name: str, message: str) -> None:
        self.by_field[name] = f"{self.by_field[name]}; {message}" if name in self.by_field else message

    def parse(self, model: type[M], data: dict[str, Any]) -> M | None:
        """``data`` checked by ``model`` (the API's request model), or None with the messages recorded."""
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            for e in exc.errors():
                loc = [str(part) for part in e["loc"]]
                where = ".".join(loc[1:])
                self.add(loc[0] if loc else "form", f"{where}: {e['msg']}" if where else e["msg"])
            return None

    def json_field(self, name: str, text: str, default: Any) -> Any:
        """A field written as JSON (``default`` when empty); an unreadable one is recorded and gives ``default``."""
        if not text.strip():
            return default
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            self.add(name, f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})")
            return default

    def refused(self, exc: DeskmateError) -> None:
        """A refusal of the service (Conflict, ValidationFailed, NotFound): shown above the form."""
        self.general.append(exc.detail or exc.title)
        self.status = exc.status


def done(url: str, what: str) -> Response:
    """Back to ``url`` after a change, with the flash message's key."""
    joiner = "&" if "?" in url else "?"
    return RedirectResponse(f"{url}{joiner}done={what}", status_code=303, headers=PAGE_HEADERS)

