"""API shapes of workflows, runs and their steps."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints


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
    conversation_id: UUID | None = Field(default=None, description="the chat conversation it was started from")
    ticket_id: int | None
    verified: bool | None
    reason: str | None
    compensated: bool
    inputs: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None


class Approval(BaseModel):
    """An approval request of a run's step and its decision: who approved what."""

    id: int
    run_id: int
    step_id: str
    approver: str = Field(description="manager, role or team")
    approver_email: str | None = Field(description="the manager's address (approver: manager)")
    role: str | None
    team: str | None
    status: str = Field(description="pending, approved, denied or timed_out")
    expires_at: datetime
    decided_by: str | None = Field(description="the e-mail address of who decided")
    decided_via: str | None = Field(description="api (signed in), link (the e-mail's signed link), slack (a button in Slack), teams (a button in Teams) or timeout")
    comment: str | None
    decided_at: datetime | None
    created_at: datetime


class ApprovalRequest(Approval):
    """What an approver is shown: the request with its requester, workflow and ticket."""

    workflow: str
    requester_name: str
    requester_email: str
    ticket_number: str | None
    ticket_title: str | None


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["approve", "deny"]
    comment: Annotated[str, StringConstraints(max_length=2000)] | None = None


class RunDetail(Run):
    results: dict[str, Any]
    steps: list[StepRun]
    approvals: list[Approval] = Field(default_factory=list, description="who approved what, in order")


class RunPage(BaseModel):
    items: list[Run]
    next_cursor: str | None


class RunStart(BaseModel):
    """What the action server sends to start a run for the employee of the chat turn."""

    model_config = ConfigDict(extra="forbid")

    inputs: dict[str, Any] = Field(default_factory=dict, description="the workflow's inputs, e.g. {\"username\": …}")


class EmployeeRun(BaseModel):
    """A run as its employee (and the bot) may see it: no step results, no internal reasons."""

    id: int
    workflow: str
    status: str = Field(description="running, waiting (for an approval or a time), succeeded, failed, denied or "
                                    "cancelled")
    current_step: str | None = Field(description="the step that runs next, e.g. step_up while a code is awaited")
    waiting_for_step_up: bool = Field(description="true while the run waits for the employee's step-up pass")
    verified: bool | None
    ticket_id: int | None
    ticket_number: str | None
    approver: str | None = Field(default=None, description=(
        "while an approval is pending: who decides (the manager's name, else their address; or the team or role)"))
    delivered_to: str | None = Field(default=None, description=(
        "where a one-time password went, masked ('+44 •••• ••12', 'jo•••@example.com'); never the password"))
    created_at: datetime
    finished_at: datetime | None
