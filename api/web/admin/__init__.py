"""The console's admin pages (docs/console.md#admin-pages): ``/console/admin`` and one module per API domain.

    __init__.py   the index page, and what every admin page shares: trying a change, errors by form field
    routing.py    /console/admin/routing: routing rules and the dry run (api/routing)
    sla.py        /console/admin/sla: SLA policies, business calendars, a team's calendar (api/sla)
    people.py     /console/admin/people: users and their skills, teams, API tokens (api/auth)

Like the console (api/web/console), handlers call the services the REST API calls, with the API's pydantic
models, and take ``AdminUser``: agents and employees get the 403 page, and every form carries the session's
CSRF token (checked in api/web/signin). A change redirects back with ``?done=…``; a form the model or the
service refuses renders again with each field's message beside it and what was typed kept.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from api.auth.deps import AdminUser
from api.errors import DeskmateError
from api.web.pages import PAGE_HEADERS, render

T = TypeVar("T")
router = APIRouter(prefix="/console/admin", tags=["web"], include_in_schema=False)


@dataclass
class Refusal:
    """Why a form's change did not happen: messages by form field ("" for the form as a whole), the status."""

    errors: dict[str, str] = field(default_factory=dict)
    status: int = 422

    @property
    def summary(self) -> str:
        return "; ".join(f"{name}: {text}" if name else text for name, text in self.errors.items())


def field_errors(exc: ValidationError, *, nested: tuple[str, ...] = ()) -> dict[str, str]:
    """The model's messages keyed by form field: ``conditions.keywords.0`` is the field ``keywords`` when
    ``conditions`` is in ``nested``; list positions are dropped; a model-wide message is keyed ""."""
    errors: dict[str, str] = {}
    for error in exc.errors():
        names = [part for part in error["loc"] if isinstance(part, str)]
        if len(names) > 1 and names[0] in nested:
            names = names[1:]
        key = names[0] if names else ""
        errors[key] = f"{errors[key]}; {error['msg']}" if key in errors else error["msg"]
    return errors


async def attempt(change: Callable[[], Awaitable[T]], *, nested: tuple[str, ...] = ()) -> T | Refusal:
    """Runs ``change`` (which builds the API's model from the form and calls the service): its result, or why not."""
    try:
        return await change()
    except ValidationError as exc:
        return Refusal(field_errors(exc, nested=nested))
    except DeskmateError as exc:
        return Refusal({"": exc.detail or exc.title}, exc.status)


def back_to(path: str, what: str) -> Response:
    """Back to ``path`` after a change, which the page names (``?done=what``)."""
    return RedirectResponse(f"{path}?done={what}", status_code=303, headers=PAGE_HEADERS)


def words(text: Any) -> list[str]:
    """A comma-separated form field as a list, without empty entries."""
    return [part.strip() for part in str(text or "").split(",") if part.strip()]


def optional(text: Any) -> str | None:
    """A form field that may be left empty: None when it is."""
    value = str(text or "").strip()
    return value or None


@router.get("")
async def admin_index(request: Request, principal: AdminUser) -> Response:
    """Links to every admin page."""
    return render(request, "admin/index.html", {"principal": principal})
