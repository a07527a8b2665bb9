"""Helpers of the SolMan sync tests: read the fake's incidents and texts, act as a SolMan agent."""

from __future__ import annotations

from typing import Any

from fakes.solman_server import FakeSolman

from api.integrations.solman.mapping import marker


async def backoff_passes(conn: Any) -> None:
    """Makes the sync jobs waiting for their backoff due now (the clock moved on)."""
    await conn.execute("UPDATE procrastinate_jobs SET scheduled_at = now() "
                       "WHERE queue_name = 'sync' AND status = 'todo' AND scheduled_at > now()")


def incidents_of(fake: FakeSolman, number: str) -> list[dict[str, Any]]:
    """The incidents that carry this ticket number."""
    return [i for i in fake.incidents.values() if marker(number) in str(i.get("LongText") or "")]


def texts_of(fake: FakeSolman, object_id: str) -> list[tuple[str, str]]:
    return [(t["TextType"], t["Text"]) for t in fake.texts if t["ObjectId"] == object_id]


def agent_replies(fake: FakeSolman, object_id: str, text: str, **changes: Any) -> None:
    """A SolMan processor adds a reply (and changes the incident): its changed-at moves."""
    with fake.lock:
        fake.texts.append({"TextId": str(len(fake.texts) + 1), "ObjectId": object_id, "TextType": "SU99",
                           "Text": text})
    fake.change(object_id, **changes)


def made_in_solman(fake: FakeSolman, description: str, **fields: Any) -> dict[str, Any]:
    """An incident a SolMan user created (not from deskmate)."""
    with fake.lock:
        return dict(fake.new_incident({"ProcessType": "SMIN", "Description": description, **fields}))
