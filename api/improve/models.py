"""Closed-loop API shapes: proposals (from clusters of failed turns), their edits and decisions, model versions."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

Kind = Literal["examples", "kb_draft"]
Status = Literal["open", "approved", "rejected", "in_model", "not_promoted"]
IntentName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]+$", max_length=64)]
ExampleText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=300)]
MAX_EXAMPLES = 100


def check_example(text: str) -> str:
    """A training example as Rasa's YAML can carry it: one line, no entity markup."""
    if "\n" in text or "\r" in text:
        raise ValueError("an example is one line")
    if "](" in text or "]{" in text:
        raise ValueError(f"an example may not contain Rasa entity markup ('](' or ']{{'): {text!r}")
    return " ".join(text.split())


class Proposal(BaseModel):
    id: int
    run_id: int | None
    kind: Kind
    intent: str | None
    title: str
    keywords: list[str]
    examples: list[str] = Field(description="the training examples it proposes (kind examples); admins edit them")
    texts: list[str] = Field(description="what employees wrote in the failed turns, most central first")
    reasons: dict[str, int] = Field(description="failed turns per reason: fallback, handoff, escalation, not_helpful")
    basis: dict[str, Any] = Field(description="why this intent: the nearest training examples' vote, or the "
                                              "category of the tickets the conversations ended in")
    message_ids: list[int]
    answer_ids: list[int]
    ticket_ids: list[int]
    size: int
    status: Status
    decided_by: int | None
    decided_at: datetime | None
    note: str | None
    article_id: str | None = Field(description="the draft article an approved kb_draft made")
    model_version: str | None = Field(description="the candidate model that last trained on its examples")
    created_at: datetime
    updated_at: datetime


class ProposalPage(BaseModel):
    items: list[Proposal]
    next_cursor: str | None


class ProposalEdit(BaseModel):
    """An admin's edit: the intent, the examples, or turning it into a KB draft (or back)."""

    model_config = ConfigDict(extra="forbid")

    kind: Kind | None = None
    intent: IntentName | None = None
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)] | None = None
    examples: list[ExampleText] | None = Field(default=None, max_length=MAX_EXAMPLES)

    @field_validator("examples")
    @classmethod
    def _one_line_each(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else list(dict.fromkeys(check_example(v) for v in value))


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)] | None = None


class RunSummary(BaseModel):
    """One clustering pass."""

    run_id: int
    since: datetime
    until: datetime
    failures: int
    clusters: int
    proposals_new: list[int]
    proposals_merged: list[int]


class ComparisonRow(BaseModel):
    set: str
    metric: str
    better: Literal["higher", "lower"]
    n: int
    baseline: float | None
    candidate: float | None
    delta: float | None
    tolerance: float = Field(description="the drop allowed: DESKMATE_IMPROVE_TOLERANCE or one case (1/n)")
    lost: int = Field(default=0, description="cases right under the current model and wrong under the candidate")
    gained: int = Field(default=0, description="cases wrong under the current model and right under the candidate")
    p_value: float | None = Field(default=None, description="one-sided sign test: chance of losing this many of the "
                                                            "changed cases by chance alone")
    verdict: Literal["better", "same", "worse", "not measured"]


class ModelVersion(BaseModel):
    version: str
    status: Literal["training", "evaluating", "promoted", "not_promoted", "retired", "failed"]
    path: str
    config: str
    proposal_ids: list[int]
    examples: int
    baseline: str | None
    comparison: list[ComparisonRow] | None
    decision: str | None
    error: str | None
    reload: dict[str, str] | None
    train_s: float | None
    requested_by: int | None
    created_at: datetime
    finished_at: datetime | None
    promoted_at: datetime | None
    promoted_by: int | None


class TrainQueued(BaseModel):
    job_id: int


class Promote(BaseModel):
    model_config = ConfigDict(extra="forbid")

    force: bool = Field(default=False, description="promote even though the comparison found it worse")
