"""``/console/admin/routing``: routing rules (list, create, edit, delete) and the dry run of POST /routing/test.

The forms are validated by the API's own models (``RuleIn``, ``Probe``); the rules service and the engine's
``dry_run`` do the rest, so a rule saved here and one PUT through the API are the same.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from api.auth import service as people
from api.auth.deps import AdminUser
from api.auth.models import Principal
from api.db import Conn, ConnDep
from api.deps import SettingsDep
from api.routing import engine, rules
from api.routing.models import Probe, Rule, RuleIn
from api.routing.routes import EmbedderDep
from api.types import PRIORITY_NAMES, SourceType
from api.web.admin.forms import Refusal, attempt, back_to, optional, words
from api.web.pages import render

PAGE = "/console/admin/routing"
router = APIRouter(prefix=PAGE, tags=["web"], include_in_schema=False)
DONE = {"created": "Routing rule created.", "saved": "Routing rule saved.", "deleted": "Routing rule deleted."}
LISTS = ("categories", "intents", "keywords", "departments", "priorities")  # comma-separated form fields
NEW_RULE = {"position": "100", "enabled": "true"}
NEW_PROBE = {"urgency": "3", "impact": "3", "source_type": SourceType.WEB.value}


def _values(form: FormData) -> dict[str, Any]:
    """What was typed, to fill the form again."""
    return {key: form.get(key) for key in form} | {"sources": form.getlist("sources")}


def _rule_data(form: FormData) -> dict[str, Any]:
    """The form as the body of POST /routing/rules (RuleIn); empty fields are left out."""
    conditions: dict[str, Any] = {name: words(form.get(name)) for name in LISTS if words(form.get(name))}
    if form.getlist("sources"):
        conditions["sources"] = form.getlist("sources")
    if form.get("vip") in ("true", "false"):
        conditions["vip"] = form.get("vip") == "true"
    data: dict[str, Any] = {"name": form.get("name", ""), "team": form.get("team", ""),
                            "enabled": form.get("enabled") == "true", "conditions": conditions}
    return data | {key: value for key in ("position", "agent_id", "skill") if (value := optional(form.get(key)))}


def _rule_values(rule: Rule) -> dict[str, Any]:
    c = rule.conditions
    return {"name": rule.name, "position": str(rule.position), "enabled": "true" if rule.enabled else "",
            "team": rule.team, "agent_id": str(rule.agent_id or ""), "skill": rule.skill or "",
            "sources": list(c.sources), "vip": "" if c.vip is None else str(c.vip).lower(),
            "priorities": ", ".join(map(str, c.priorities))} | {
        name: ", ".join(getattr(c, name)) for name in LISTS if name != "priorities"}


def _probe_data(form: FormData) -> dict[str, Any]:
    """The form as the body of POST /routing/test (Probe)."""
    data = {key: form.get(key, "") for key in ("title", "description", "urgency", "impact", "source_type")}
    return data | {key: value for key in ("category", "team") if (value := optional(form.get(key)))}


async def _context(conn: Conn, principal: Principal, **page: Any) -> dict[str, Any]:
    listed = await rules.list_rules(conn)
    return {"principal": principal, "rules": listed, "teams": await people.list_teams(conn),
            "agents": await people.names(conn, user_ids={r.agent_id for r in listed if r.agent_id}),
            "sources": list(SourceType), "priorities": PRIORITY_NAMES, "values": NEW_RULE, "errors": {},
            "probe": NEW_PROBE, "probe_errors": {}} | page


@router.get("")
async def rules_page(request: Request, conn: ConnDep, principal: AdminUser, done: str | None = None) -> Response:
    """The rules in the order they are tried, the form of a new one and the dry run."""
    return render(request, "admin/routing.html", await _context(conn, principal, done=DONE.get(done or "")))


@router.post("/rules")
async def create_rule(request: Request, conn: ConnDep, principal: AdminUser) -> Response:
    form = await request.form()
    result = await attempt(lambda: rules.create_rule(conn, data=RuleIn.model_validate(_rule_data(form))),
                           nested=("conditions",))
    if isinstance(result, Refusal):
        return render(request, "admin/routing.html", await _context(
            conn, principal, values=_values(form), errors=result.errors, error=result.summary), status_code=result.status)
    return back_to(PAGE, "created")


async def _rule_page(request: Request, conn: Conn, principal: Principal, rule: Rule, *, status: int = 200,
                     **page: Any) -> Response:
    context = {"principal": principal, "rule": rule, "values": _rule_values(rule), "errors": {},
               "teams": await people.list_teams(conn), "sources": list(SourceType)} | page
    return render(request, "admin/rule.html", context, status_code=status)


@router.get("/rules/{rule_id}")
async def rule_page(rule_id: int, request: Request, conn: ConnDep, principal: AdminUser) -> Response:
    return await _rule_page(request, conn, principal, await rules.get_rule_or_raise(conn, rule_id=rule_id))


@router.post("/rules/{rule_id}")
async def update_rule(rule_id: int, request: Request, conn: ConnDep, principal: AdminUser) -> Response:
    rule = await rules.get_rule_or_raise(conn, rule_id=rule_id)
    form = await request.form()
    result = await attempt(lambda: rules.update_rule(conn, rule_id=rule_id, data=RuleIn.model_validate(_rule_data(form))),
                           nested=("conditions",))
    if isinstance(result, Refusal):
        return await _rule_page(request, conn, principal, rule, values=_values(form), errors=result.errors,
                                error=result.summary, status=result.status)
    return back_to(PAGE, "saved")


@router.post("/rules/{rule_id}/delete")
async def delete_rule(rule_id: int, conn: ConnDep, _: AdminUser) -> Response:
    await rules.delete_rule(conn, rule_id=rule_id)
    return back_to(PAGE, "deleted")


@router.post("/test")
async def dry_run(request: Request, conn: ConnDep, principal: AdminUser, settings: SettingsDep,
                  embedder: EmbedderDep) -> Response:
    """The decision POST /api/v1/routing/test returns for the sample ticket; nothing is stored or changed."""
    form = await request.form()
    result = await attempt(lambda: engine.dry_run(conn, probe=Probe.model_validate(_probe_data(form)),
                                                  principal=principal, settings=settings, embedder=embedder))
    page = await _context(conn, principal, probe=dict(form))
    if isinstance(result, Refusal):
        return render(request, "admin/routing.html", page | {"probe_errors": result.errors, "error": result.summary},
                      status_code=result.status)
    return render(request, "admin/routing.html", page | {"decision": result,
                                                         "decision_json": result.model_dump_json(indent=2)})
