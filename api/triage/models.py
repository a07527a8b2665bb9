"""Triage pipeline records."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class Failure(BaseModel):
    """A triage step that failed on a ticket event and was skipped (the dead letter)."""

    id: int
    ticket_id: int
    event_id: int
    step: str
    error: str
    created_at: datetime
    resolved_at: datetime | None
