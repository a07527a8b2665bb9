"""What the engine asks of a connector kind (GLPI, SolMan): one session per push or poll, over one client.

    open(rt, settings) ─▶ Session ── ensure_link / push_fields / push_comment / push_assignment   (outbound)
                                 ├─ changes(cursor) ─▶ Change … ─▶ pull         (inbound, per linked ticket)
                                 ├─ change(external id) ─▶ pull                 (a webhook named one)
                                 ├─ open_tickets ─▶ imported, pull                (backfill)
                                 └─ drift                                         (reconcile, per linked ticket)

The engine holds the transaction and the connector+ticket lock around every call that takes ``conn``; the
session talks to the external system and writes the links, comment links and conflicts. A kind registers in
api/integrations/sync/kinds.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from api.auth.models import Principal
from api.db import Conn
from api.integrations.sync.connectors import Runtime
from api.settings import Settings
from api.tickets.models import TicketCreate


@dataclass(frozen=True)
class Change:
    """One external ticket read by the poll.

    ``version`` is what the link stores as ``remote_date_mod`` (a change the link has seen is not pulled again);
    ``cursor`` is the value the connector's ``inbound_cursor`` moves to, comparable as a string (the engine keeps
    the largest one read)."""

    external_id: str
    version: str | None
    cursor: str
    remote: dict[str, Any]


class Session(Protocol):
    async def ensure_link(self, conn: Conn, ticket: dict[str, Any]) -> dict[str, Any]:
        """The ticket's link, creating the external ticket first when there is none (never twice)."""

    async def push_fields(self, conn: Conn, *, ticket: dict[str, Any], link: dict[str, Any], fields: set[str],
                          actor: Principal, reason: str | None = None) -> list[str]:
        """Writes the ticket's ``fields`` (deskmate names) there; returns the fields left in conflict."""

    async def push_comment(self, conn: Conn, *, link: dict[str, Any], comment_id: int) -> str:
        """Sends one comment; returns the outbox status (``done`` or ``skipped``)."""

    async def push_assignment(self, conn: Conn, *, ticket: dict[str, Any], link: dict[str, Any]) -> None:
        """Sends the ticket's assignee and team, where the kind maps people (else nothing)."""

    async def change(self, external_id: str) -> Change | None:
        """One external ticket as the poll would read it (a verified webhook named it); None when it has no such
        ticket."""

    def changes(self, cursor: str | None, *, page_size: int) -> AsyncIterator[Change]:
        """The external tickets changed since ``cursor`` (minus the connector's overlap window)."""

    async def pull(self, conn: Conn, *, link: dict[str, Any], change: Change, actor: Principal) -> int:
        """Brings one linked ticket's changes in; returns how many external texts became comments."""

    def open_tickets(self, *, page_size: int) -> AsyncIterator[Change]:
        """The external tickets still open, linked or not (backfill)."""

    def imported(self, change: Change) -> tuple[TicketCreate, dict[str, Any]]:
        """A deskmate ticket for an external one (backfill), and the mapped values its link starts with."""

    async def drift(self, conn: Conn, *, ticket: dict[str, Any], link: dict[str, Any],
                    apply: bool) -> list[tuple[str, Any, Any]]:
        """The mapped fields that differ on both sides, as (deskmate field, deskmate value, external value); with
        ``apply``, writes deskmate's values there (reconcile)."""


class Opener(Protocol):
    def __call__(self, rt: Runtime, settings: Settings) -> AbstractAsyncContextManager[Session]: ...
