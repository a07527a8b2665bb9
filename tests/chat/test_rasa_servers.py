"""The gateway over several Rasa servers (DESKMATE_RASA_URLS): sticky by conversation, failover when one is down.

Two fake Rasa servers over real HTTP (tests/fakes/rasa_server.py: they check the channel secret and the body like
bot/channel.py); a mock transport where a server must answer 503 or time out.
"""

from __future__ import annotations

import uuid
from collections import Counter

import httpx
import pytest
from chat_support import start as _start
from fakes.rasa_server import FakeRasa, FakeRasaServer

from api.chat import rasa as rasa_client
from api.chat.rasa import RasaClient, channel_secret, rendezvous
from api.errors import RasaTimeout, RasaUnavailable

SECRET = "servers-test-secret"


def senders(fake: FakeRasa) -> set[str]:
    return {r["sender"] for r in fake.received}


async def test_each_conversation_sticks_to_one_server_and_both_get_conversations():
    with FakeRasaServer(secret=SECRET) as a, FakeRasaServer(secret=SECRET) as b:
        client = RasaClient([a.url, b.url], channel_secret=SECRET)
        other_replica = RasaClient([b.url, a.url], channel_secret=SECRET)  # another api, its list in another order
        conversations = [str(uuid.uuid4()) for _ in range(40)]
        try:
            for conv in conversations:
                for text in ("hello", "/affirm"):
                    reply = await client.send(sender=conv, text=text, metadata={"conversation_id": conv})
                    assert reply.messages and reply.messages[0]["recipient_id"] == conv
                await other_replica.send(sender=conv, text="bye", metadata={})
        finally:
            await client.aclose()
            await other_replica.aclose()
        assert not senders(a) & senders(b)  # every turn of a conversation, from either api, on one server
        assert senders(a) | senders(b) == set(conversations)
        assert len(senders(a)) >= 8 and len(senders(b)) >= 8  # spread (40 conversations; expected 20 each)
        for conv in conversations:
            assert conv in (senders(a) if rendezvous([a.url, b.url], conv)[0] == a.url else senders(b))
        assert Counter(r["sender"] for r in a.received + b.received) == {c: 3 for c in conversations}


async def test_a_server_that_is_down_hands_its_conversations_to_the_other():
    with FakeRasaServer(secret=SECRET) as b:
        with FakeRasaServer(secret=SECRET) as a:
            servers = [a.url, b.url]
        # `a` is stopped now: its port refuses connections
        client = RasaClient(servers, channel_secret=SECRET, retry_after_s=60)
        on_a = [c for c in (str(uuid.uuid4()) for _ in range(30)) if rendezvous(servers, c)[0] == a.url][:5]
        on_b = [c for c in (str(uuid.uuid4()) for _ in range(30)) if rendezvous(servers, c)[0] == b.url][:5]
        assert on_a and on_b
        try:
            for conv in on_a + on_b:
                reply = await client.send(sender=conv, text="hello", metadata={})
                assert reply.intent == "greet"
            assert client.servers_for(on_a[0]) == [b.url, a.url]  # the failed server is tried last for a while
        finally:
            await client.aclose()
        assert senders(b) == set(on_a + on_b)
        assert not a.received


async def test_no_server_answering_is_unavailable():
    with FakeRasaServer(secret=SECRET) as a, FakeRasaServer(secret=SECRET) as b:
        servers = [a.url, b.url]
    client = RasaClient(servers, channel_secret=SECRET)
    try:
        with pytest.raises(RasaUnavailable) as caught:
            await client.send(sender="c1", text="hello", metadata={})
        assert a.url in caught.value.detail and b.url in caught.value.detail
        assert not await client.ready()
    finally:
        await client.aclose()


class Scripted:
    """A mock transport for two hosts: ``first`` answers as told, ``second`` like the channel; records the calls."""

    def __init__(self, first: str) -> None:
        self.first, self.calls = first, []

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request.url.host)
        if request.headers.get(rasa_client.SECRET_HEADER) != SECRET:
            return httpx.Response(403, json={"error": "forbidden"})
        if request.url.host == "first":
            if self.first == "503":
                return httpx.Response(503, json={"error": "no model loaded"})
            if self.first == "timeout":
                raise httpx.ReadTimeout("timed out", request=request)
            if self.first == "500":
                return httpx.Response(500, json={"error": "boom"})
        return httpx.Response(200, json={"messages": [{"recipient_id": "x", "text": "hi"}],
                                         "intent": {"name": "greet", "confidence": 0.9}})


def first_key(servers: list[str]) -> str:
    return next(k for k in (f"conv-{n}" for n in range(100)) if rendezvous(servers, k)[0] == servers[0])


@pytest.mark.parametrize(("first", "moves"), [("503", True), ("timeout", False), ("500", False)])
async def test_only_a_request_rasa_never_ran_moves_to_the_next_server(first: str, moves: bool):
    """503 (model loading) moves on; a timeout or a 500 does not: that server may have run the turn already."""
    script = Scripted(first)
    servers = ["http://first", "http://second"]
    client = RasaClient(servers, channel_secret=SECRET, transport=httpx.MockTransport(script.handler))
    key = first_key(servers)
    try:
        if moves:
            assert (await client.send(sender=key, text="hello", metadata={})).intent == "greet"
            assert script.calls == ["first", "second"]
        else:
            with pytest.raises(RasaTimeout if first == "timeout" else RasaUnavailable):
                await client.send(sender=key, text="hello", metadata={})
            assert script.calls == ["first"]
    finally:
        await client.aclose()


async def test_a_refused_secret_is_not_retried_elsewhere():
    script = Scripted("ok")
    servers = ["http://first", "http://second"]
    client = RasaClient(servers, channel_secret="wrong", transport=httpx.MockTransport(script.handler))
    try:
        with pytest.raises(RasaUnavailable, match="403"):
            await client.send(sender=first_key(servers), text="hello", metadata={})
        assert script.calls == ["first"]
    finally:
        await client.aclose()


def test_the_servers_come_from_the_settings(settings):
    several = settings.model_copy(update={"rasa_urls": ["http://r1:5005", "http://r2:5005/"]})
    assert rasa_client.from_settings(several).servers == ["http://r1:5005", "http://r2:5005"]
    assert rasa_client.from_settings(settings).servers == [settings.rasa_url]
    assert rasa_client.from_settings(several, base_url="http://only:1").servers == ["http://only:1"]
    with pytest.raises(ValueError, match="at least one"):
        RasaClient([], channel_secret=SECRET)


async def test_turns_through_the_gateway_survive_one_server_down(app, client, settings):
    """The widget's turn with the first of two servers stopped: answered by the other, intent stored."""
    with FakeRasaServer(secret=channel_secret(settings)) as b:
        with FakeRasaServer(secret=channel_secret(settings)) as a:
            servers = [a.url, b.url]
        original = app.state.rasa
        app.state.rasa = RasaClient(servers, channel_secret=channel_secret(settings))
        try:
            for _ in range(4):
                conv, session, _ = await _start(client, settings)
                r = await client.post(f"/api/v1/chat/conversations/{conv}/messages", json={"text": "hello"},
                                      headers=session)
                assert r.status_code == 200, r.text
                assert r.json()["intent"] == "greet"
                assert r.json()["messages"][0]["text"].startswith("Hi! I'm deskmate")
        finally:
            await app.state.rasa.aclose()
            app.state.rasa = original
        assert len(senders(b)) == 4 and not a.received
