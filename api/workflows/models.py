"""API shapes of workflows, runs and their steps."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class WorkflowInfo(BaseModel):
    name: str
    title: str
    description: str
    enabled: bool
    version: int = Field(description="the version new runs get; running ones keep theirs")
    content_hash: str
    updated_at: datetime


class WorkflowDetail(WorkflowInfo):
    definition: dict[str, Any]


class Enabled(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool


class StepRun(BaseModel):
    step_id: str
    phase: str = Field(description="do, or compensate (the step's undo)")
    kind: str
    status: str
    attempts: int
    started_at: datetime
    finished_at: datetime | None
    duration_s: float | None
    result: Any = None
    error: str | None


class Run(BaseModel):
    id: int
    workflow: str
    version: int
    status: str
    current_step: str | None
    requester_id: int
    ticket_id: int | None
    verified: bool | None
    reason: str | None
    compensated: bool
    inputs: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None


class RunDetail(Run):
    results: dict[str, Any]
    steps: list[StepRun]


class RunPage(BaseModel):
    items: list[Run]
    next_cursor: str | None
