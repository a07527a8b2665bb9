"""Shared value types of tickets, routing, SLA and alerts: statuses, sources, levels, the priority matrix.

A neutral module so that the domains that react to tickets (routing, SLA, alerts) need not import the
ticket domain for its vocabulary. ``api.tickets.models`` re-exports every name.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field, StringConstraints

__all__ = [
    "OPEN_STATUSES", "PRIORITY_NAMES", "Body", "Level", "Slug", "SourceType", "Status", "TicketType", "Title",
    "priority",
]


class TicketType(StrEnum):
    incident = "incident"
    request = "request"


class Status(StrEnum):
    new = "new"
    assigned = "assigned"
    in_progress = "in_progress"
    pending = "pending"
    resolved = "resolved"
    closed = "closed"
    cancelled = "cancelled"


class SourceType(StrEnum):
    WEB = "WEB"
    MOBILE = "MOBILE"
    EMAIL = "EMAIL"
    GLPI = "GLPI"
    SOLMAN = "SOLMAN"
    CHATBOT = "CHATBOT"
    SLACK = "SLACK"
    TEAMS = "TEAMS"


OPEN_STATUSES = frozenset({Status.new, Status.assigned, Status.in_progress, Status.pending})
PRIORITY_NAMES = {1: "critical", 2: "high", 3: "medium", 4: "low", 5: "planning"}


def priority(urgency: int, impact: int) -> int:
    """ITIL matrix on 1 (high) .. 3 (low) scales: 1+1 -> P1 critical ... 3+3 -> P5 planning."""
    return urgency + impact - 1


Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Body = Annotated[str, StringConstraints(max_length=20_000)]
Level = Annotated[int, Field(ge=1, le=3, description="1 = high, 2 = medium, 3 = low")]
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=64)]
