"""Compatibility names for the SLA service, now split (kept for api/routing/demo.py until the demo
seeding moves; new code imports the module it needs): policies.py (policies and calendars) and
clock.py (each ticket's clock)."""

from __future__ import annotations

from api.sla.clock import check, get_ticket_sla, next_threshold, on_event, overdue
from api.sla.policies import (
    calendar_for_team,
    create_policy,
    delete_policy,
    list_calendars,
    list_policies,
    preview,
    put_calendar,
    set_team_calendar,
    update_policy,
)

__all__ = [
    "calendar_for_team", "check", "create_policy", "delete_policy", "get_ticket_sla", "list_calendars",
    "list_policies", "next_threshold", "on_event", "overdue", "preview", "put_calendar", "set_team_calendar",
    "update_policy",
]
