"""The ticket page's timeline reads as sentences, not as the events' JSON."""

from __future__ import annotations

from datetime import UTC, datetime

from api.tickets.models import Event
from api.web.console.timeline import describe

NAMES = {"people": {7: "Sam Lee"}, "teams": {4: "Workplace Technology"}, "categories": {2: "Hardware"}}


def event(kind: str, after: dict, before: dict | None = None, **meta: str) -> Event:
    return Event(id=1, ticket_id=1, actor_id=7, kind=kind, before=before, after=after, meta=meta,
                 created_at=datetime(2026, 12, 7, 22, 46, tzinfo=UTC))


def test_an_opened_ticket_names_its_source_and_leaves_out_the_description_and_metadata():
    line = describe(event("created", {"title": "Dock", "description": "long text", "source_type": "CHATBOT",
                                      "integration_metadata": {"conversation_id": "x"}, "assignee_id": None,
                                      "category_id": 2}), NAMES)
    assert line == "opened the ticket (title: Dock, source: CHATBOT, category: Hardware)"


def test_changes_show_before_and_after_with_names_and_the_reason():
    assert describe(event("status_changed", {"status": "resolved", "resolution": "agent"}, {"status": "assigned"},
                          reason="Replaced the power supply."), NAMES) == (
        "changed the status (status: assigned → resolved) — Replaced the power supply.")
    assert describe(event("assigned", {"assignee_id": 7, "team_id": 4, "status": "assigned"},
                          {"assignee_id": None, "team_id": 4, "status": "new"}), NAMES) == (
        "assigned (assignee: none → Sam Lee, status: new → assigned)")


def test_sla_times_are_shown_to_the_minute():
    assert describe(event("sla_due_changed", {"respond_due_at": "2026-12-08T15:00:00+00:00"}), NAMES) == (
        "SLA times (respond by: 2026-12-08 15:00)")
