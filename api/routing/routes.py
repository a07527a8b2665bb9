"""Routing endpoints: rules (admin writes, staff reads), dry run, apply, decisions, feedback, shifts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status

from api.auth.deps import AdminUser, StaffUser
from api.db import ConnDep
from api.deps import SettingsDep
from api.kb.embedding import Embedder
from api.routing import engine, feedback, rules, shifts
from api.routing.models import Decision, Feedback, Probe, Rule, RuleIn, Shift, ShiftIn

router = APIRouter(prefix="/routing", tags=["routing"])


def _embedder(request: Request) -> Embedder:
    return request.app.state.embedder  # type: ignore[no-any-return]


EmbedderDep = Annotated[Embedder, Depends(_embedder)]


@router.get("/rules")
async def list_rules(conn: ConnDep, _: StaffUser) -> list[Rule]:
    """Routing rules in the order they are tried."""
    return await rules.list_rules(conn)


@router.post("/rules", status_code=status.HTTP_201_CREATED)
async def create_rule(data: RuleIn, conn: ConnDep, _: AdminUser, response: Response) -> Rule:
    rule = await rules.create_rule(conn, data=data)
    response.headers["Location"] = f"/api/v1/routing/rules/{rule.id}"
    return rule


@router.get("/rules/{rule_id}")
async def get_rule(rule_id: int, conn: ConnDep, _: StaffUser) -> Rule:
    return await rules.get_rule_or_raise(conn, rule_id=rule_id)


@router.put("/rules/{rule_id}")
async def update_rule(rule_id: int, data: RuleIn, conn: ConnDep, _: AdminUser) -> Rule:
    return await rules.update_rule(conn, rule_id=rule_id, data=data)


@router.delete("/rules/{rule_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_rule(rule_id: int, conn: ConnDep, _: AdminUser) -> None:
    await rules.delete_rule(conn, rule_id=rule_id)


@router.post("/test")
async def test(data: Probe, conn: ConnDep, principal: StaffUser, settings: SettingsDep,
               embedder: EmbedderDep) -> Decision:
    """Dry run: how a ticket with this content would be classified and routed now. Changes nothing."""
    return await engine.dry_run(conn, probe=data, principal=principal, settings=settings, embedder=embedder)


@router.post("/apply/{ticket_id}")
async def apply(ticket_id: str, conn: ConnDep, principal: StaffUser, settings: SettingsDep,
                embedder: EmbedderDep) -> Decision:
    """Routes the ticket (id or number) now and assigns it; the decision is stored."""
    return await engine.apply(conn, ref=ticket_id, actor=principal, settings=settings, embedder=embedder)


@router.get("/decisions")
async def list_decisions(ticket_id: str, conn: ConnDep, principal: StaffUser) -> list[Decision]:
    """A ticket's routing decisions, newest first, with candidates, steps and reason."""
    return await engine.list_decisions_for(conn, ref=ticket_id, principal=principal)


@router.get("/feedback")
async def list_feedback(conn: ConnDep, principal: StaffUser, ticket_id: int | None = None,
                        limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[Feedback]:
    """Reassignments and category corrections people made after triage, on tickets the caller may see."""
    return await feedback.list_feedback(conn, principal=principal, ticket_id=ticket_id, limit=limit)


@router.get("/shifts/{user_id}")
async def list_shifts(user_id: int, conn: ConnDep, _: StaffUser) -> list[Shift]:
    return await shifts.list_shifts(conn, user_id=user_id)


@router.put("/shifts/{user_id}")
async def replace_shifts(user_id: int, data: list[ShiftIn], conn: ConnDep, _: AdminUser) -> list[Shift]:
    """Replaces an agent's weekly shifts; an empty list means always on shift."""
    return await shifts.replace_shifts(conn, user_id=user_id, shifts=data)
