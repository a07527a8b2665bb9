"""Compatibility names for the routing service, now split by concept (kept for api/routing/demo.py until
the demo seeding moves; new code imports the module it needs):

- rules.py     routing rules CRUD and the team lookup
- shifts.py    agents' weekly shifts
- engine.py    classify, route, store the decision, assign (dry run, apply, triage of a new ticket)
- feedback.py  what people changed after triage
"""

from __future__ import annotations

from api.routing.engine import dry_run, list_decisions, reroute, route, triage_new, triage_principal
from api.routing.feedback import list_feedback
from api.routing.feedback import record as record_feedback
from api.routing.rules import create_rule, delete_rule, get_rule_or_raise, list_rules, update_rule
from api.routing.shifts import list_shifts, replace_shifts

__all__ = [
    "create_rule", "delete_rule", "dry_run", "get_rule_or_raise", "list_decisions", "list_feedback", "list_rules",
    "list_shifts", "record_feedback", "replace_shifts", "reroute", "route", "triage_new", "triage_principal",
    "update_rule",
]
