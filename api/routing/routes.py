"""Routing endpoints: rules (admin writes, staff reads), dry run, apply, decisions, feedback, shifts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status

from api.auth import service as people
from api.auth.deps import AdminUser, StaffUser
from api.db import ConnDep
from api.deps import SettingsDep
from api.errors import Forbidden
from api.routing import service
from api.routing.embedding import Embedder
from api.routing.models import Decision, Feedback, Probe, Rule, RuleIn, Shift, ShiftIn
from api.tickets import service as tickets

router = APIRouter(prefix="/routing", tags=["routing"])


def _embedder(request: Request) -> Embedder:
    return request.app.state.embedder  # type: ignore[no-any-return]


EmbedderDep = Annotated[Embedder, Depends(_embedder)]


@router.get("/rules")
async def list_rules(conn: ConnDep, _: StaffUser) -> list[Rule]:
    """Routing rules in the order they are tried."""
    return await service.list_rules(conn)


@router.post("/rules", status_code=status.HTTP_201_CREATED)
async def create_rule(data: RuleIn, conn: ConnDep, _: AdminUser, response: Response) -> Rule:
    rule = await service.create_rule(conn, data=data)
    response.headers["Location"] = f"/api/v1/routing/rules/{rule.id}"
    return rule


@router.get("/rules/{rule_id}")
async def get_rule(rule_id: int, conn: ConnDep, _: StaffUser) -> Rule:
    return await service.get_rule_or_raise(conn, rule_id=rule_id)


@router.put("/rules/{rule_id}")
async def update_rule(rule_id: int, data: RuleIn, conn: ConnDep, _: AdminUser) -> Rule:
    return await service.update_rule(conn, rule_id=rule_id, data=data)


@router.delete("/rules/{rule_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_rule(rule_id: int, conn: ConnDep, _: AdminUser) -> None:
    await service.delete_rule(conn, rule_id=rule_id)


@router.post("/test")
async def test(data: Probe, conn: ConnDep, principal: StaffUser, settings: SettingsDep,
               embedder: EmbedderDep) -> Decision:
    """Dry run: how a ticket with this content would be classified and routed now. Changes nothing."""
    return await service.dry_run(conn, probe=data, principal=principal, settings=settings, embedder=embedder)


@router.post("/apply/{ticket_id}")
async def apply(ticket_id: str, conn: ConnDep, principal: StaffUser, settings: SettingsDep,
                embedder: EmbedderDep) -> Decision:
    """Routes the ticket (id or number) now and assigns it; the decision is stored."""
    ticket = await tickets.get_or_raise(conn, principal=principal, ref=ticket_id)
    if not tickets.can_work(principal, ticket.model_dump()):
        raise Forbidden("Route tickets of your teams, or ones assigned to you.")
    return await service.apply(conn, ticket_id=ticket.id, settings=settings, embedder=embedder, actor=principal)


@router.get("/decisions")
async def list_decisions(ticket_id: str, conn: ConnDep, principal: StaffUser) -> list[Decision]:
    """A ticket's routing decisions, newest first, with candidates, steps and reason."""
    ticket = await tickets.get_or_raise(conn, principal=principal, ref=ticket_id)
    return await service.list_decisions(conn, ticket_id=ticket.id)


@router.get("/feedback")
async def list_feedback(conn: ConnDep, _: StaffUser, ticket_id: int | None = None,
                        limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[Feedback]:
    """Reassignments and category corrections people made after triage."""
    return await service.list_feedback(conn, ticket_id=ticket_id, limit=limit)


@router.get("/shifts/{user_id}")
async def list_shifts(user_id: int, conn: ConnDep, _: StaffUser) -> list[Shift]:
    await people.get_or_raise(conn, user_id=user_id)
    return await service.list_shifts(conn, user_id=user_id)


@router.put("/shifts/{user_id}")
async def replace_shifts(user_id: int, data: list[ShiftIn], conn: ConnDep, _: AdminUser) -> list[Shift]:
    """Replaces an agent's weekly shifts; an empty list means always on shift."""
    await people.get_or_raise(conn, user_id=user_id)
    return await service.replace_shifts(conn, user_id=user_id, shifts=data)
