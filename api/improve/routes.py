"""Closed-loop endpoints: proposals from failed conversations (agents read, admins decide) and model versions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, status

from api import pagination
from api.auth.deps import AdminUser, StaffUser
from api.db import ConnDep
from api.deps import SettingsDep
from api.improve import proposals, served_hints, service, tasks
from api.improve.models import (
    Decision,
    Kind,
    ModelVersion,
    Promote,
    Proposal,
    ProposalEdit,
    ProposalPage,
    RunSummary,
    Status,
    TrainQueued,
)
from api.kb.routes import KbDep

router = APIRouter(prefix="/improve", tags=["improve"])


@router.get("/proposals")
async def list_proposals(conn: ConnDep, _: StaffUser, status_: Annotated[Status | None, Query(alias="status")] = None,
                         kind: Kind | None = None, limit: Annotated[int, Query(ge=1, le=200)] = 50,
                         cursor: pagination.CursorParam = None) -> ProposalPage:
    """Proposals, newest first."""
    items, next_cursor = await proposals.list_proposals(conn, status=status_, kind=kind, limit=limit, cursor=cursor)
    return ProposalPage(items=items, next_cursor=next_cursor)


@router.get("/proposals/{proposal_id}")
async def get_proposal(proposal_id: int, conn: ConnDep, _: StaffUser) -> Proposal:
    return await proposals.get(conn, proposal_id=proposal_id)


@router.patch("/proposals/{proposal_id}")
async def edit_proposal(proposal_id: int, data: ProposalEdit, conn: ConnDep, _: AdminUser) -> Proposal:
    """Changes the intent, the examples, or the kind of an open (or not promoted) proposal."""
    return await proposals.edit(conn, proposal_id=proposal_id, data=data)


@router.post("/proposals/{proposal_id}/approve")
async def approve_proposal(proposal_id: int, conn: ConnDep, kb: KbDep, admin: AdminUser,
                           data: Decision | None = None) -> Proposal:
    """Examples: they go into the next candidate model. KB draft: a draft article is created."""
    return await proposals.approve(conn, kb, principal=admin, proposal_id=proposal_id, note=data.note if data else None)


@router.post("/proposals/{proposal_id}/reject")
async def reject_proposal(proposal_id: int, conn: ConnDep, admin: AdminUser, data: Decision | None = None) -> Proposal:
    return await proposals.reject(conn, principal=admin, proposal_id=proposal_id, note=data.note if data else None)


@router.post("/runs", status_code=status.HTTP_201_CREATED)
async def cluster_now(request: Request, conn: ConnDep, settings: SettingsDep, _: AdminUser) -> RunSummary:
    """Clusters the failures since the last pass now (the worker does it every night)."""
    return await proposals.cluster(conn, settings, request.app.state.embedder)


@router.get("/models")
async def list_models(conn: ConnDep, _: StaffUser, limit: Annotated[int, Query(ge=1, le=200)] = 20) -> list[ModelVersion]:
    """Model versions the loop trained, newest first, each with its comparison table and decision."""
    return await service.list_models(conn, limit=limit)


@router.get("/models/{version}")
async def get_model(version: str, conn: ConnDep, _: StaffUser) -> ModelVersion:
    return await service.get_model(conn, version=version)


@router.post("/models", status_code=status.HTTP_202_ACCEPTED)
async def train(conn: ConnDep, admin: AdminUser) -> TrainQueued:
    """Queues a candidate training on every approved example (409 when one is already waiting)."""
    return TrainQueued(job_id=await tasks.queue_training(conn, requested_by=admin.id))


@router.post("/models/{version}/promote")
async def promote(version: str, request: Request, conn: ConnDep, settings: SettingsDep, admin: AdminUser,
                  data: Promote | None = None) -> ModelVersion:
    """Serves this version (e.g. a rollback to an earlier one); a candidate found worse needs force."""
    promoted = await service.promote(conn, settings, version=version, user_id=admin.id, force=bool(data and data.force))
    if request.app.state.rasa.hinter is not None:  # this api's hints follow now; the others at their next refresh
        await served_hints.refresh(request.app.state.pool, request.app.state.rasa.hinter,
                                   timeout_s=settings.db_acquire_timeout_s)
    return promoted
