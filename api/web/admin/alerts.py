"""Admin pages of alert rules (``/console/admin/alerts``): the rules, their form, the webhook secret's rotation,
and the delivery history with the re-drive of a failed delivery.

The same service and models as /api/v1/alerts: a rule's form is checked by ``AlertRuleIn`` (its conditions and
channels written as JSON, as the API takes them), rules and re-drives are for admins, the history for agents too
(the service shows an agent the alerts of tickets they may see). A generated or rotated webhook secret is shown
once, on the page that answers the form, never in a URL.
"""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from api.alerts import service
from api.alerts.models import AlertRule, AlertRuleIn, AlertRuleWithSecret, EventKind
from api.auth.deps import AdminUser, StaffUser
from api.auth.models import Principal, Role
from api.db import Conn, ConnDep
from api.deps import SettingsDep
from api.web.admin.forms import Refusal, attempt, back_to, checked, render_page
from api.web.pages import local_path, render

router = APIRouter(prefix="/console/admin/alerts", tags=["web"], include_in_schema=False)
HOME = "/console/admin/alerts"
PAGE_SIZE = 20
STATUSES = ["fired", "suppressed", "no_recipients", "failed", "pending", "sending", "retrying", "sent", "dead",
            "skipped"]  # a firing's status, or one of its deliveries'
RETRYABLE = frozenset({"failed", "dead"})
DONE = {"created": "Alert rule created.", "updated": "Alert rule saved.", "deleted": "Alert rule deleted.",
        "retried": "The delivery is queued again."}
EXAMPLE_CHANNELS = [{"channel": "IN_APP", "recipients": [{"kind": "assignee"}]}]


class RuleFields(BaseModel):
    """The rule form as typed (text and ticks; the csrf_token field is ignored): AlertRuleIn checks it afterwards."""

    name: str = ""
    enabled: bool = False
    events: list[str] = Field(default_factory=list)
    dedup_window_s: str = ""
    conditions: str = ""
    channels: str = ""
    webhook_secret: str = ""

    def shown(self) -> dict[str, Any]:
        """What the form shows again after a refusal: everything typed but the secret."""
        return self.model_dump(exclude={"webhook_secret"})


def _form_of(rule: AlertRule | None) -> dict[str, Any]:
    """What the form shows: a rule's fields as the form writes them, or a new rule's defaults."""
    if rule is None:
        return RuleFields(enabled=True, events=["created"], conditions="{}",
                          channels=json.dumps(EXAMPLE_CHANNELS, indent=2)).shown()
    return RuleFields(
        name=rule.name, enabled=rule.enabled, events=[str(e) for e in rule.events],
        dedup_window_s="" if rule.dedup_window_s is None else str(rule.dedup_window_s),
        conditions=json.dumps(rule.conditions.model_dump(mode="json", exclude_defaults=True), indent=2),
        channels=json.dumps([c.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
                             for c in rule.channels], indent=2)).shown()


def _rule_in(fields: RuleFields) -> AlertRuleIn:
    """The form as the API's ``AlertRuleIn``, its conditions and channels read as JSON (empty: none); raises Refusal."""
    data: dict[str, Any] = {"name": fields.name, "enabled": fields.enabled, "events": fields.events,
                            "conditions": {}, "channels": [], "dedup_window_s": fields.dedup_window_s.strip() or None}
    if fields.webhook_secret:
        data["webhook_secret"] = fields.webhook_secret
    return checked(AlertRuleIn, data, json_fields={"conditions": fields.conditions, "channels": fields.channels})


def _form_page(request: Request, principal: Principal, *, form: dict[str, Any], rule_id: int | None = None,
               refusal: Refusal | None = None, has_secret: bool = False) -> Response:
    return render(request, "admin/alerts_form.html", {
        "principal": principal, "form": form, "rule_id": rule_id, "events": list(EventKind), "has_secret": has_secret,
        "errors": refusal.errors if refusal else {}, "error": refusal.summary if refusal else None,
    }, status_code=refusal.status if refusal else 200)


def _saved(request: Request, principal: Principal, rule: AlertRuleWithSecret, what: str) -> Response:
    """Back to the rules, or the page showing the new webhook secret once."""
    if rule.webhook_secret is None:
        return back_to(HOME, what)
    return render(request, "admin/alerts_secret.html", {"principal": principal, "rule": rule})


@router.get("")
async def rules_page(request: Request, conn: ConnDep, principal: AdminUser, done: str | None = None) -> Response:
    """Every alert rule: its events, channels and whether it is enabled."""
    return render(request, "admin/alerts.html", {"principal": principal, "rules": await service.list_rules(conn),
                                                 "done": DONE.get(done or "")})


@router.get("/new")
async def new_rule(request: Request, principal: AdminUser) -> Response:
    return _form_page(request, principal, form=_form_of(None))


@router.post("")
async def create_rule(request: Request, conn: ConnDep, principal: AdminUser, settings: SettingsDep,
                      fields: Annotated[RuleFields, Form()]) -> Response:
    """Creates a rule through the alert service; a refused form comes back with the messages and the input."""
    result = await attempt(lambda: service.create_rule(conn, data=_rule_in(fields), settings=settings,
                                                       actor_id=principal.id))
    if isinstance(result, Refusal):
        return _form_page(request, principal, form=fields.shown(), refusal=result)
    return _saved(request, principal, result, "created")


@router.get("/{rule_id:int}")
async def edit_rule(rule_id: int, request: Request, conn: ConnDep, principal: AdminUser) -> Response:
    rule = await service.get_rule_or_raise(conn, rule_id=rule_id)
    return _form_page(request, principal, form=_form_of(rule), rule_id=rule_id, has_secret=rule.has_webhook_secret)


@router.post("/{rule_id:int}")
async def update_rule(rule_id: int, request: Request, conn: ConnDep, principal: AdminUser, settings: SettingsDep,
                      fields: Annotated[RuleFields, Form()]) -> Response:
    """Replaces the rule (as PUT /alerts/rules/{id}); an empty secret field keeps the rule's secret."""
    result = await attempt(lambda: service.update_rule(conn, rule_id=rule_id, data=_rule_in(fields), settings=settings))
    if isinstance(result, Refusal):
        current = await service.get_rule_or_raise(conn, rule_id=rule_id)
        return _form_page(request, principal, form=fields.shown(), rule_id=rule_id, refusal=result,
                          has_secret=current.has_webhook_secret)
    return _saved(request, principal, result, "updated")


@router.post("/{rule_id:int}/delete")
async def delete_rule(rule_id: int, conn: ConnDep, _: AdminUser) -> Response:
    await service.delete_rule(conn, rule_id=rule_id)
    return back_to(HOME, "deleted")


@router.post("/{rule_id:int}/rotate-secret")
async def rotate_secret(rule_id: int, request: Request, conn: ConnDep, principal: AdminUser,
                        settings: SettingsDep) -> Response:
    """A new webhook signing secret, shown once on the page this answers with."""
    rule = await service.rotate_secret(conn, rule_id=rule_id, settings=settings)
    return render(request, "admin/alerts_secret.html", {"principal": principal, "rule": rule})


async def _history_page(request: Request, conn: Conn, principal: Principal, *, rule: int | None, status: str | None,
                        cursor: str | None, done_key: str | None = None, refusal: Refusal | None = None
                        ) -> Response:
    page = await service.history(conn, principal=principal, rule_id=rule, status=status, cursor=cursor,
                                 limit=PAGE_SIZE)
    params = {k: v for k, v in {"rule": rule, "status": status}.items() if v}
    admin = principal.role is Role.admin
    return render_page(request, "admin/alerts_deliveries.html", {
        "principal": principal, "page": page, "rule": rule, "status": status, "statuses": STATUSES,
        "rules": await service.list_rules(conn) if admin else [], "may_retry": admin, "retryable": RETRYABLE,
        "here": f"{HOME}/deliveries?{urlencode(params | ({'cursor': cursor} if cursor else {}))}",
        "next_url": f"{HOME}/deliveries?{urlencode(params | {'cursor': page.next_cursor})}" if page.next_cursor else None,
        "done": DONE.get(done_key or "")}, refusal=refusal)


@router.get("/deliveries")
async def deliveries_page(request: Request, conn: ConnDep, principal: StaffUser, rule: str = "",
                          status: Annotated[str, Query(max_length=20)] = "",
                          cursor: Annotated[str | None, Query(max_length=100)] = None,
                          done: str | None = None) -> Response:
    """The alert history, newest first, filtered by rule and status: every delivery with its attempts."""
    return await _history_page(request, conn, principal, rule=int(rule) if rule.isdigit() else None,
                               status=status if status in STATUSES else None, cursor=cursor, done_key=done)


@router.post("/deliveries/{delivery_id:int}/retry")
async def retry_delivery(delivery_id: int, request: Request, conn: ConnDep, principal: AdminUser,
                         back: Annotated[str, Form()] = "") -> Response:
    """Sends a failed or dead delivery again (as POST /alerts/deliveries/{id}/retry), back to the same history."""
    target = local_path(back, f"{HOME}/deliveries")
    if not target.startswith(f"{HOME}/deliveries"):
        target = f"{HOME}/deliveries"
    result = await attempt(lambda: service.requeue(conn, delivery_id=delivery_id))
    if isinstance(result, Refusal):
        return await _history_page(request, conn, principal, rule=None, status=None, cursor=None, refusal=result)
    return back_to(target, "retried")
