"""One chat turn through the real processes (api → Rasa → action server → api): one trace id in all four logs, and
the turn's time split into gateway, Rasa and action on the api's /metrics (docs/operations.md)."""

from __future__ import annotations

import json
import secrets
from typing import TYPE_CHECKING

import httpx
import pytest
from e2e_support import METRICS_TOKEN
from fakes.waiting import until
from prometheus_client.parser import text_string_to_metric_families

if TYPE_CHECKING:
    from conftest import Stack

from api.chat.identity import sign_identity


async def _scrape(api: httpx.AsyncClient) -> dict[tuple[str, frozenset], float]:
    r = await api.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    r.raise_for_status()
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(r.text) for s in family.samples}


def _count(scrape: dict, part: str) -> float:
    return scrape.get(("deskmate_chat_turn_part_seconds_count", frozenset({("part", part)})), 0.0)


@pytest.mark.e2e
async def test_a_turn_has_one_trace_id_in_every_process_and_its_time_split(real_processes: Stack, settings,
                                                                          make_actor) -> None:  # type: ignore[no-untyped-def]
    employee = await make_actor()
    trace_id = secrets.token_hex(16)
    async with httpx.AsyncClient(base_url=real_processes.api, timeout=120) as api:
        started = (await api.post("/api/v1/chat/conversations", json={
            "identity": sign_identity(settings, employee.user.email)})).raise_for_status().json()
        before = await _scrape(api)
        r = await api.post(f"/api/v1/chat/conversations/{started['conversation_id']}/messages",
                           json={"text": "how do I share my calendar with my team"},
                           headers={"X-Chat-Session": started["session_token"],
                                    "traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01"})
        assert r.status_code in (200, 201), r.text
        after = await _scrape(api)

    for part in ("gateway", "rasa", "action"):  # Rasa reported the time it waited for the action server
        assert _count(after, part) == _count(before, part) + 1, part
    services = real_processes.services

    async def logged(name: str, *needles: str) -> list[str] | None:
        lines = services[name].log.read_text(errors="replace").splitlines()
        return [x for x in lines if trace_id in x and all(n in x for n in needles)] or None

    await until(lambda: logged("rasa", "deskmate channel: turn of"), timeout_s=30, what="Rasa logs the turn's trace")
    await until(lambda: logged("actions", "answered 200"), timeout_s=30,
                what="the action server logs an action with the turn's trace")
    api_lines = await until(lambda: logged("api-real-rasa", '"logger": "deskmate.access"'), timeout_s=30,
                            what="the api logs the turn and the action's calls with the turn's trace")
    answered = {(r["path"], r["status"]) for r in map(json.loads, api_lines)}
    assert (f"/api/v1/chat/conversations/{started['conversation_id']}/messages", 200) in answered, answered
    actions_calls = {(path, status) for path, status in answered if "/messages" not in path}
    assert actions_calls and all(200 <= status < 300 for _, status in actions_calls), answered  # the action's calls
