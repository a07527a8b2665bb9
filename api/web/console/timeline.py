"""The ticket page's timeline in words: each event's changes as "status: new → assigned", with people, teams and
categories by name and times to the minute; what an agent doesn't need there (the description, the ticket's
metadata, bookkeeping columns) is left out."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from api.tickets.models import Event

KINDS = {"created": "opened the ticket", "updated": "changed", "status_changed": "changed the status",
         "assigned": "assigned", "commented": "commented", "sla_due_changed": "SLA times", "reopened": "reopened"}
HIDDEN = {"id", "number", "description", "integration_metadata", "created_at", "updated_at", "version",
          "requester_id", "source_reference", "closed_at", "resolution", "conversation_id"}
LABELS = {"assignee_id": "assignee", "team_id": "team", "category_id": "category", "source_type": "source",
          "respond_due_at": "respond by", "resolve_due_at": "resolve by", "comment_id": None, "internal": None}


def _value(field: str, value: Any, names: dict[str, dict[Any, str]]) -> str:
    if value is None:
        return "none"
    lookup = {"assignee_id": "people", "team_id": "teams", "category_id": "categories"}.get(field)
    if lookup:
        return names[lookup].get(value, f"#{value}")
    if field.endswith("_at") and isinstance(value, str):
        try:
            return datetime.fromisoformat(value).strftime("%Y-%m-%d %H:%M")
        except ValueError:
            return value
    return str(value)


def describe(event: Event, names: dict[str, dict[Any, str]]) -> str:
    """One line for ``event``: what happened and the fields it changed (``names``: people, teams, categories)."""
    what = KINDS.get(event.kind, event.kind.replace("_", " "))
    before, after = event.before or {}, event.after or {}
    changes = []
    for field, value in after.items():
        label = LABELS.get(field, field.replace("_", " "))
        unchanged = before[field] == value if field in before else value is None and event.kind == "created"
        if field in HIDDEN or label is None or unchanged:
            continue
        was = f"{_value(field, before[field], names)} → " if field in before else ""
        changes.append(f"{label}: {was}{_value(field, value, names)}")
    line = f"{what} ({', '.join(changes)})" if changes else what
    reason = event.meta.get("reason")
    return f"{line} — {reason}" if reason else line
