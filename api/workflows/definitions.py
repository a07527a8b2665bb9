"""Workflow definitions as data: the pydantic models of a ``data/workflows/*.yml`` file and their checks.

A definition is a list of steps run in order; a step goes to the next one unless it names ``next`` (or a
condition its ``then``/``else``). A target is a later step's id, ``end`` (the run is over) or ``handoff``
(stop and hand the ticket to a person). Targets only point forward, so a run has no loops and each step runs
at most once (its idempotency key is the run's and the step's).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from api.types import Slug, TicketType, Title
from api.workflows import functions, operations, refs

END, HANDOFF = "end", "handoff"
StepId = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
Name = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
Text = Annotated[str, StringConstraints(min_length=1, max_length=4000)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class _Step(_Strict):
    id: StepId
    title: str | None = None
    next: str | None = Field(default=None, description="a later step's id, 'end' or 'handoff'; default: the next")


class Compensation(_Strict):
    """The directory operation that undoes a step (run in reverse order when a later step fails)."""

    operation: str
    args: dict[str, Any] = Field(default_factory=dict)


class DirectoryStep(_Step):
    kind: Literal["directory"]
    operation: str
    args: dict[str, Any] = Field(default_factory=dict)
    compensate: Compensation | None = None


class VerifyStep(_Step):
    """Re-reads the directory; passes when the answer has ``expect``'s fields (a list: when one element has)."""

    kind: Literal["verify"]
    operation: str
    args: dict[str, Any] = Field(default_factory=dict)
    expect: dict[str, Any] = Field(min_length=1)


class ConditionStep(_Step):
    kind: Literal["condition"]
    value: str = Field(description="a reference, e.g. $steps.find")
    test: Literal["is_null", "not_null", "is_true", "is_false", "equals"]
    equals: Any = None
    then: str
    else_: str = Field(alias="else")


class TicketStep(_Step):
    """Comments on, resolves or hands off the run's ticket; ``assign`` gives it to ``team`` (a slug or a reference)
    for a person to fulfil, with ``text`` as their internal note, and the run's end leaves it there."""

    kind: Literal["ticket"]
    action: Literal["comment", "resolve", "handoff", "assign"]
    text: Text | None = None
    team: str | None = Field(default=None, description="assign: the team's slug, or a reference like $steps.item.team")

    @model_validator(mode="after")
    def _team(self) -> TicketStep:
        if (self.action == "assign") != (self.team is not None):
            raise ValueError(f"ticket {self.id!r}: give team with action: assign (and only then)")
        return self


class StepUpStep(_Step):
    """The step-up identity check (runtime.py ``step_up``): the run goes on only when it passed."""

    kind: Literal["step_up"]
    factor: Literal["any", "sms", "email", "totp"] = "any"
    username: str | None = Field(default=None, description="a reference to the username the check is for")


class NotifyStep(_Step):
    kind: Literal["notify"]
    to: Literal["requester"] = "requester"
    text: Text


class CodeStep(_Step):
    kind: Literal["code"]
    function: str
    args: dict[str, Any] = Field(default_factory=dict)


class ApprovalStep(_Step):
    """Someone must approve: the requester's manager (from the directory), anyone with a role, or a team. Not
    decided within ``timeout_s``: ``on_timeout`` (deny, or hand the ticket to a person). Denied: ``on_deny``
    (close: the requester is told and the ticket cancelled; handoff: the ticket goes to the team)."""

    kind: Literal["approval"]
    approver: Literal["manager", "role", "team"]
    role: Literal["agent", "admin"] | None = None
    team: Slug | None = None
    timeout_s: int = Field(gt=0, le=30 * 86400)
    on_timeout: Literal["deny", "handoff"] = "deny"
    on_deny: Literal["close", "handoff"] = "close"

    @model_validator(mode="after")
    def _who(self) -> ApprovalStep:
        if (self.approver == "role") != (self.role is not None) or (self.approver == "team") != (self.team is not None):
            raise ValueError(f"approval {self.id!r}: give role with approver: role, team with approver: team")
        return self


class WaitStep(_Step):
    """Waits ``seconds`` from when the step starts, or until ``until`` (a time without a zone is UTC)."""

    kind: Literal["wait"]
    seconds: int | None = Field(default=None, gt=0, le=30 * 86400)
    until: datetime | None = None

    @model_validator(mode="after")
    def _one(self) -> WaitStep:
        if (self.seconds is None) == (self.until is None):
            raise ValueError(f"wait {self.id!r}: give exactly one of seconds and until")
        return self


class HttpStep(_Step):
    """A call to a configured external API (by name) through the outbound guard; secrets from encrypted settings."""

    kind: Literal["http"]
    endpoint: Slug = Field(description="the configured external API's name")
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    path: str = Field(default="/", pattern=r"^/", description="added to the endpoint's URL; may hold {inputs.x}")
    body: dict[str, Any] | None = None


Step = Annotated[DirectoryStep | VerifyStep | ConditionStep | TicketStep | StepUpStep | NotifyStep | CodeStep
                 | ApprovalStep | WaitStep | HttpStep, Field(discriminator="kind")]
EXECUTABLE = frozenset({"directory", "verify", "condition", "ticket", "step_up", "notify", "code", "approval", "wait",
                        "http"})


class TicketSpec(_Strict):
    title: Title = Field(description="may hold {inputs.x} placeholders")
    type: TicketType = TicketType.request
    category: Slug | None = None


class InputSpec(_Strict):
    description: str = ""
    required: bool = True
    choices: Literal["requestable_groups", "software_catalogue"] | None = Field(default=None, description=(
        "started from the chat, the value must be one of these: requestable_groups, the dn of a group in the "
        "directory's access catalogue; software_catalogue, the slug of an item of catalogue/software.yml"))


class Workflow(_Strict):
    name: Name
    title: Title
    description: str = ""
    inputs: dict[Name, InputSpec] = Field(default_factory=dict)
    ticket: TicketSpec
    handoff_team: Slug = Field(description="the team a run that cannot finish is handed to")
    steps: list[Step] = Field(min_length=1, max_length=100)

    @model_validator(mode="after")
    def _consistent(self) -> Workflow:
        problems = _problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def step(self, step_id: str) -> Step:
        return next(s for s in self.steps if s.id == step_id)

    def following(self, step_id: str) -> str:
        """The step after ``step_id`` in the list ('end' after the last)."""
        ids = [s.id for s in self.steps]
        i = ids.index(step_id)
        return ids[i + 1] if i + 1 < len(ids) else END


def _problems(wf: Workflow) -> list[str]:
    """Everything wrong with the steps, in order: ids, targets, references, operations, functions."""
    problems: list[str] = []
    ids = [s.id for s in wf.steps]
    problems += [f"step id {i!r} is used twice" for i in sorted({i for i in ids if ids.count(i) > 1})]
    problems += [f"a step may not be called {i!r}" for i in ids if i in (END, HANDOFF)]
    for pos, step in enumerate(wf.steps):
        later = set(ids[pos + 1:]) | {END, HANDOFF}
        targets = [step.then, step.else_] if isinstance(step, ConditionStep) else []
        targets += [step.next] if step.next else []
        problems += [f"step {step.id!r}: branch target {t!r} is not a later step, 'end' or 'handoff'"
                     for t in targets if t not in later]
        problems += [f"step {step.id!r}: {p}" for p in _step_problems(wf, step, set(ids[:pos]))]
    verify_at = [i for i, s in enumerate(wf.steps) if isinstance(s, VerifyStep)]
    problems += [f"step {s.id!r}: a ticket is resolved only after a verify step"
                 for i, s in enumerate(wf.steps)
                 if isinstance(s, TicketStep) and s.action == "resolve" and not any(v < i for v in verify_at)]
    return problems


def _step_problems(wf: Workflow, step: Step, earlier: set[str]) -> list[str]:
    problems = [p for ref in _refs_of(step) if (p := _ref_problem(wf, ref, earlier))]
    if isinstance(step, DirectoryStep | VerifyStep):
        problems += [p] if (p := operations.check_args(step.operation, step.args)) else []
    if isinstance(step, VerifyStep) and step.operation in operations.OPERATIONS \
            and step.operation not in operations.READS:
        problems.append(f"verify re-reads the directory; {step.operation!r} changes it")
    if isinstance(step, DirectoryStep) and step.compensate:
        problems += [f"compensation: {p}" for p in [operations.check_args(step.compensate.operation,
                                                                          step.compensate.args)] if p]
    if isinstance(step, CodeStep) and step.function not in functions.FUNCTIONS:
        problems.append(f"unknown code function {step.function!r}; registered: {', '.join(sorted(functions.FUNCTIONS))}")
    if isinstance(step, TicketStep) and step.action == "comment" and not step.text:
        problems.append("a ticket comment needs text")
    return problems


def _refs_of(step: Step) -> list[Any]:
    """Every reference a step makes: in its arguments, value, texts and compensation."""
    found: list[Any] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)
        elif isinstance(value, str) and value.startswith("$"):
            found.append(value)

    for field in ("args", "value", "username", "expect", "body", "team"):
        walk(getattr(step, field, None))
    if isinstance(step, DirectoryStep) and step.compensate:
        walk(step.compensate.args)
    for text in (getattr(step, "text", None), getattr(step, "path", None)):
        found += [(root, path) for root, path in refs.placeholders(text)] if text else []
    return found


def _ref_problem(wf: Workflow, ref: Any, earlier: set[str]) -> str | None:
    try:
        root, path = ref if isinstance(ref, tuple) else refs.parse(ref) or ("", [])
    except refs.RefError as exc:
        return str(exc)
    if root == "inputs" and path[0] not in wf.inputs:
        return f"reference to undeclared input {path[0]!r}"
    if root == "steps" and path[0] not in earlier:
        return f"reference to {path[0]!r}, which is not an earlier step"
    return None
