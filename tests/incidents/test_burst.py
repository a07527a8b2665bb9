"""Me too under load: twenty employees report "VPN is down" at the same moment, in their own words, through the
real api process (uvicorn, its own connection pool) -> one ticket, twenty affected people, no duplicate."""

from __future__ import annotations

import asyncio
import itertools

import httpx
import numpy as np

from api.auth.models import Role
from api.chat import service as chat
from api.chat.identity import sign_identity
from api.kb.embedding import get_embedder
from api.tickets import service as tickets
from api.tickets.models import Status, Transition

# Twenty ways people say it. Each two are at least DESKMATE_METOO_MIN_SIMILARITY alike (checked below), so the
# outcome must not depend on which request wins the race.
WORDINGS = [
    "VPN is down", "vpn down again", "VPN seems to be down", "vpn is down??", "my VPN is down",
    "VPN is down, please help", "our VPN is down", "VPN connection is down", "VPN is down, cannot connect",
    "VPN is down again today", "vpn seems down again", "vpn not connecting, is it down", "hi, the VPN is down",
    "looks like the VPN is down", "can't connect, VPN is down", "VPN down for me too", "is the VPN down?",
    "the VPN is down for everyone", "VPN down since this morning", "VPN keeps failing, is it down?",
]


def test_every_two_wordings_are_close_enough(settings):
    vectors = get_embedder(settings).embed(WORDINGS)
    vectors = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    closest_pair_apart = min(float(vectors[i] @ vectors[j]) for i, j in itertools.combinations(range(20), 2))
    assert len(set(WORDINGS)) == 20
    assert closest_pair_apart >= settings.metoo_min_similarity, closest_pair_apart


async def _conversation(http: httpx.AsyncClient, settings, conn, email: str, text: str) -> tuple[str, dict]:
    """A widget conversation of a signed-in employee whose turn said ``text`` (stored as the gateway does)."""
    r = await http.post("/api/v1/chat/conversations", json={"identity": sign_identity(settings, email)})
    assert r.status_code == 201, r.text
    started = r.json()
    await chat.store(conn, started["conversation_id"], "user", text)
    return started["conversation_id"], {"X-Chat-Session": started["session_token"]}


async def test_twenty_simultaneous_reports_make_one_incident_with_twenty_affected_people(
        live_server, settings, conn, make_actor, principal_of):
    # Earlier tests of the session (chat, bot) may have left open VPN reports in this database: the burst starts
    # from a desk with no known issue, so the first of the twenty must open the incident.
    await conn.execute("DELETE FROM major_incidents")
    await conn.execute("UPDATE incident_affected_users SET embedding = NULL")
    employees = [await make_actor() for _ in WORDINGS]
    async with httpx.AsyncClient(base_url=live_server, timeout=120) as http:
        # the embedding model loads once per process: load it before the burst (as DESKMATE_KB_PRELOAD_MODEL does)
        warm = await http.post("/api/v1/kb/search", json={"query": "vpn"}, headers=employees[0].headers)
        assert warm.status_code == 200, warm.text
        chats = [await _conversation(http, settings, conn, e.user.email, text) for e, text in zip(employees, WORDINGS, strict=True)]
        answers = await asyncio.gather(*(
            http.post(f"/api/v1/chat/conversations/{conv}/tickets", json={"reason": "assistant_unavailable"},
                      headers=session) for conv, session in chats))
        assert [a.status_code for a in answers] == [201] * 20, [a.text for a in answers if a.status_code != 201]
        bodies = [a.json() for a in answers]
        replay = await http.post(f"/api/v1/chat/conversations/{chats[7][0]}/tickets",
                                 json={"reason": "assistant_unavailable"}, headers=chats[7][1])

    opened = [b for b in bodies if b["outcome"] == "opened"]
    linked = [b for b in bodies if b["outcome"] == "linked"]
    assert (len(opened), len(linked)) == (1, 19)
    number = opened[0]["ticket"]["number"]
    assert {b["ticket"]["number"] for b in bodies} == {b["incident"]["number"] for b in linked} == {number}
    assert all(b["ticket"]["description"] == "" for b in linked)  # the first reporter's transcript stays theirs
    assert all("known issue" in b["messages"][0]["text"] for b in linked)
    assert replay.status_code == 201 and replay.json()["ticket"]["number"] == number  # a retry links nobody twice

    ticket_id = opened[0]["ticket"]["id"]
    conversations = [conv for conv, _ in chats]
    made = await (await conn.execute("SELECT count(*) AS n FROM tickets WHERE source_reference = ANY(%s)",
                                      (conversations,))).fetchone()
    assert made["n"] == 1
    rows = await (await conn.execute(
        "SELECT user_id, role, conversation_id::text AS conversation_id FROM incident_affected_users "
        "WHERE ticket_id = %s", (ticket_id,))).fetchall()
    assert len(rows) == 20
    assert {r["user_id"] for r in rows} == {e.user.id for e in employees}
    assert {r["conversation_id"] for r in rows} == set(conversations)
    requester = [r for r in rows if r["role"] == "requester"]
    assert len(requester) == 1 and requester[0]["user_id"] == opened[0]["ticket"]["requester_id"]

    # DESKMATE_METOO_THRESHOLD (3) reports made it a major incident, once, with an audit event by the triage user
    major = await (await conn.execute("SELECT automatic FROM major_incidents WHERE ticket_id = %s",
                                      (ticket_id,))).fetchone()
    assert major == {"automatic": True}
    events = await (await conn.execute(
        "SELECT e.after, u.role FROM ticket_events e JOIN users u ON u.id = e.actor_id "
        "WHERE e.ticket_id = %s AND e.kind = 'updated' AND e.after ? 'integration_metadata'", (ticket_id,))).fetchall()
    assert len(events) == 1 and events[0]["role"] == "service"
    assert events[0]["after"]["integration_metadata"]["major_incident"]["automatic"] is True
    assert events[0]["after"]["impact"] == 1
    assert sum(b["incident"]["major"] for b in linked) >= 17  # all but the first link(s) before the threshold

    admin = await principal_of(await make_actor(Role.admin))  # resolved: later tests' reports are not matched to it
    await tickets.transition(conn, principal=admin, ref=ticket_id, data=Transition(status=Status.resolved))
