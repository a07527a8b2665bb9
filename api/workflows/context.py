"""What a step executor gets and returns (steps.py and the step modules beside it): the run's ``Context`` and the
step's ``Outcome``, and ``tell``, how a step tells the requester something."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from api.auth.models import Principal
from api.db import Conn
from api.settings import Settings
from api.tickets import service as tickets
from api.tickets.models import CommentCreate
from api.workflows.runtime import Runtime


@dataclass(frozen=True)
class Context:
    conn: Conn
    run: dict[str, Any]
    runtime: Runtime
    actor: Principal
    key: str  # the step's idempotency key
    settings: Settings | None = None
    waited_s: float = 0.0  # since this step's first attempt started

    @property
    def data(self) -> dict[str, Any]:
        return {"inputs": self.run["inputs"], "steps": self.run["results"]}


@dataclass(frozen=True)
class Outcome:
    result: Any
    summary: str
    next: str | None = None  # None: the step after this one
    verified: bool | None = None
    reason: str | None = None  # why the run stops (next == 'handoff')
    again_in_s: float | None = None  # not done yet: run this step again later
    parked: bool = False  # not done yet: something outside (a decision) queues this step again; nothing is queued
    stop_status: str = "failed"  # the run's status when it stops (next == 'handoff'), e.g. 'denied'
    close_ticket: bool = False  # when it stops: cancel its ticket (the requester was told) instead of handing it over


async def tell(ctx: Context, text: str) -> None:
    """Tells the run's requester ``text``: the runtime's ``notify``, else a public comment on the run's ticket."""
    if ctx.runtime.notify is not None:
        await ctx.runtime.notify(ctx.run["id"], text)
    else:
        await tickets.add_comment(ctx.conn, principal=ctx.actor, ref=ctx.run["ticket_id"], data=CommentCreate(body=text))
