"""Triage endpoints: the dead letter of failed steps (admin)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.auth.deps import AdminUser
from api.db import ConnDep
from api.triage import pipeline
from api.triage.models import Failure

router = APIRouter(prefix="/triage", tags=["triage"])


@router.get("/failures")
async def list_failures(conn: ConnDep, _: AdminUser, ticket_id: int | None = None,
                        limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[Failure]:
    """Triage steps that failed on a ticket event and were skipped, newest first, with the error."""
    return await pipeline.list_failures(conn, ticket_id=ticket_id, limit=limit)
