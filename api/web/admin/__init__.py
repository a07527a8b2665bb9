"""The console's admin pages (docs/console.md#admin-pages): ``/console/admin`` and one module per API domain.

    __init__.py   the index page
    forms.py      what every admin form shares: trying a change, a refusal's messages by form field, the redirect
    routing.py    /console/admin/routing: routing rules and the dry run (api/routing)
    sla.py        /console/admin/sla: SLA policies, business calendars, a team's calendar (api/sla)
    people.py     /console/admin/people: users and their skills, teams, API tokens (api/auth)
    alerts.py     /console/admin/alerts: alert rules, the webhook secret, the delivery history (api/alerts)
    kb.py         /console/admin/kb: articles, the trends and their draft suggestions (api/kb)
    workflows.py  /console/admin/workflows: workflows, runs, approvals waiting (api/workflows)

Like the console (api/web/console), handlers call the services the REST API calls, with the API's pydantic
models, and take ``AdminUser`` (``StaffUser`` where agents may read or decide too): others get the 403 page, and
every form carries the session's CSRF token (checked in api/web/signin). A change redirects back with
``?done=…``; a form the model or the service refuses renders again with each field's message beside it and what
was typed kept (forms.py).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.auth.deps import AdminUser
from api.web.pages import render

router = APIRouter(prefix="/console/admin", tags=["web"], include_in_schema=False)


@router.get("")
async def admin_index(request: Request, principal: AdminUser) -> Response:
    """Links to every admin page."""
    return render(request, "admin/index.html", {"principal": principal})
