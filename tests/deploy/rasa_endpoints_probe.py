"""Run with the Rasa environment (.venv-rasa/bin/python), by tests/deploy/test_rasa_endpoints.py.

Loads an endpoints.yml the Helm chart rendered with Rasa's own readers and uses what it describes: two lock stores
(two Rasa replicas) take turns on one conversation in Redis, a lock store with a wrong password is refused, and two
tracker stores (the same two replicas) write and read one conversation in PostgreSQL. Prints one JSON object.

Usage: rasa_endpoints_probe.py ENDPOINTS_YML CONVERSATION_ID
"""
from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import redis
from rasa.core.lock_store import LockStore, RedisLockStore
from rasa.core.tracker_store import SQLTrackerStore, TrackerStore
from rasa.shared.core.events import ActionExecuted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import read_endpoint_config


async def wait_for(condition: Any) -> None:
    """Yields to the event loop until ``condition()`` holds (bounded: 20,000 turns of the loop)."""
    for _ in range(20_000):
        if condition():
            return
        await asyncio.sleep(0.001)
    raise TimeoutError("condition never held")


async def take_turns(first: LockStore, second: LockStore, conversation: str) -> list[str]:
    """Replica 1 holds the conversation's lock; replica 2 asks for it and waits; the order of what happened."""
    events: list[str] = []
    holding = asyncio.Event()
    release = asyncio.Event()

    async def one() -> None:
        async with first.lock(conversation, lock_lifetime=30, wait_time_in_seconds=0.01):
            events.append("replica 1 in")
            holding.set()
            await release.wait()
            events.append("replica 1 out")

    async def two() -> None:
        await holding.wait()
        async with second.lock(conversation, lock_lifetime=30, wait_time_in_seconds=0.01):
            events.append("replica 2 in")

    tasks = [asyncio.create_task(one()), asyncio.create_task(two())]
    await holding.wait()
    # replica 2 has queued its ticket in Redis behind replica 1's: what replica 1 sees there
    await wait_for(lambda: len(getattr(first.get_lock(conversation), "tickets", ())) == 2)
    events.append("replica 2 waiting")
    release.set()
    await asyncio.gather(*tasks)
    return events


async def trackers(path: str, conversation: str) -> dict[str, Any]:
    config = read_endpoint_config(path, "tracker_store")
    writer, reader = TrackerStore.create(config), TrackerStore.create(config)
    tracker = DialogueStateTracker.from_events(conversation, [
        ActionExecuted("action_listen"), UserUttered("my vpn is down", {"name": "report_problem", "confidence": 0.9})])
    await writer.save(tracker)
    back = await reader.retrieve(conversation)
    return {"tracker_store": type(writer).__name__, "sql": isinstance(writer, SQLTrackerStore),
            "read_back": [e.text for e in back.events if isinstance(e, UserUttered)] if back else None}


async def main(path: str, conversation: str) -> dict[str, Any]:
    config = read_endpoint_config(path, "lock_store")
    first, second = LockStore.create(config), LockStore.create(config)
    result: dict[str, Any] = {"lock_store": type(first).__name__}
    assert isinstance(first, RedisLockStore)
    kwargs = first.red.connection_pool.connection_kwargs
    result.update(host=kwargs["host"], port=kwargs["port"], db=kwargs["db"], key_prefix=first.key_prefix,
                  authenticated=bool(kwargs.get("password")))
    result["turns"] = await take_turns(first, second, conversation)
    result["lock_left"] = first.red.exists(first.key_prefix + conversation)
    wrong = RedisLockStore(host=kwargs["host"], port=kwargs["port"], db=kwargs["db"], password="not-the-password")
    try:
        wrong.get_or_create_lock(conversation)
        result["wrong_password"] = "accepted"
    except redis.exceptions.AuthenticationError:
        result["wrong_password"] = "refused"
    result.update(await trackers(path, conversation))
    return result


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1], sys.argv[2]))))
