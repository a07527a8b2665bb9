"""What every admin page's form shares: the change is tried with the API's pydantic model and service, and a
refusal comes back as messages by form field, so the page shows the form again with each message beside its field
and what was typed kept.

    result = await attempt(lambda: rules.create_rule(conn, data=RuleIn.model_validate(_rule_data(form))))
    if isinstance(result, Refusal):      # result.errors by field ("" for the form as a whole), result.status
        return render(..., {"errors": result.errors, "error": result.summary}, status_code=result.status)
    return back_to(PAGE, "created")      # the page says what was done: ?done=created

A field written as JSON (an alert rule's channels) is read by ``checked``, which says where the text does not parse.
The templates show the messages with ``f.error`` and ``f.described`` of admin/macros.html; a page without a form
(a list with buttons) says them on one line above it (``render_page``).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, ValidationError

from api.errors import DeskmateError
from api.web.pages import PAGE_HEADERS, render

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)


class Refusal(Exception):
    """Why a form's change did not happen: messages by form field ("" for the form as a whole) and the status
    (422 when the model refused the form, the service's own otherwise). ``attempt`` returns it; ``checked`` raises it."""

    def __init__(self, errors: dict[str, str], status: int = 422) -> None:
        super().__init__(errors)
        self.errors = errors
        self.status = status

    @property
    def summary(self) -> str:
        """What the page says above its form: the refusal of the form as a whole, or which fields need a change."""
        general = [text for name, text in self.errors.items() if not name]
        return "; ".join(general) if general else f"Not saved: correct {', '.join(self.errors)} (below)."

    @property
    def text(self) -> str:
        """Every message on one line, for a page without a form to show them beside."""
        return "; ".join(f"{name}: {text}" if name else text for name, text in self.errors.items())


def _joined(*groups: Mapping[str, str]) -> dict[str, str]:
    """The messages of every group by field, two for one field joined with "; "."""
    errors: dict[str, str] = {}
    for group in groups:
        for name, text in group.items():
            errors[name] = f"{errors[name]}; {text}" if name in errors else text
    return errors


def field_errors(exc: ValidationError, *, nested: tuple[str, ...] = (), within: tuple[str, ...] = ()
                 ) -> dict[str, str]:
    """The model's messages keyed by form field: ``conditions.keywords.0`` is the field ``keywords`` when
    ``conditions`` is in ``nested``; a model-wide message is keyed "". A field in ``within`` (one written as JSON)
    says where in it: ``0.url: …``; elsewhere list positions are dropped."""
    keyed: list[dict[str, str]] = []
    for error in exc.errors():
        loc = list(error["loc"])
        if len(loc) > 1 and loc[0] in nested:
            loc = loc[1:]
        names = [part for part in loc if isinstance(part, str)]
        key = names[0] if names else ""
        where = ".".join(str(part) for part in loc[1:]) if key in within and loc[0] == key else ""
        keyed.append({key: f"{where}: {error['msg']}" if where else error["msg"]})
    return _joined(*keyed)


def checked(model: type[M], data: dict[str, Any], *, json_fields: Mapping[str, str]) -> M:
    """``data`` checked by ``model`` (the API's request model), with the fields of ``json_fields`` read from the JSON
    typed in them (``data`` holds what an empty one stands for).

    Raises
    ------
    Refusal
        ``not valid JSON: … (line, column)`` beside a field that does not parse, the model's messages beside theirs.
    """
    unreadable: dict[str, str] = {}
    for name, text in json_fields.items():
        try:
            if text.strip():
                data = data | {name: json.loads(text)}
        except json.JSONDecodeError as exc:
            unreadable[name] = f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
    try:
        value = model.model_validate(data)
    except ValidationError as exc:
        raise Refusal(_joined(unreadable, field_errors(exc, within=tuple(json_fields)))) from exc
    if unreadable:
        raise Refusal(unreadable)
    return value


async def attempt(change: Callable[[], Awaitable[T]], *, nested: tuple[str, ...] = ()) -> T | Refusal:
    """Runs ``change`` (which builds the API's model from the form and calls the service): its result, or why not.

    Parameters
    ----------
    change
        Raises the model's ``ValidationError``, a ``DeskmateError`` of the service, or a ``Refusal`` of its own.
    nested
        Fields of the model that the form flattens (see ``field_errors``).
    """
    try:
        return await change()
    except Refusal as refusal:
        return refusal
    except ValidationError as exc:
        return Refusal(field_errors(exc, nested=nested))
    except DeskmateError as exc:
        return Refusal({"": exc.detail or exc.title}, exc.status)


def render_page(request: Request, template: str, context: dict[str, Any], *, refusal: Refusal | None = None
                ) -> Response:
    """A page without a form (a list with buttons): with ``refusal``, its messages on one line above, at its status."""
    if refusal is None:
        return render(request, template, context)
    return render(request, template, context | {"error": refusal.text}, status_code=refusal.status)


def back_to(url: str, what: str) -> Response:
    """Back to ``url`` (which may have a query) after a change, which the page names (``done=what``)."""
    joiner = "&" if "?" in url else "?"
    return RedirectResponse(f"{url}{joiner}done={what}", status_code=303, headers=PAGE_HEADERS)


def words(text: Any) -> list[str]:
    """A comma-separated form field as a list, without empty entries."""
    return [part.strip() for part in str(text or "").split(",") if part.strip()]


def optional(text: Any) -> str | None:
    """A form field that may be left empty: None when it is."""
    value = str(text or "").strip()
    return value or None
