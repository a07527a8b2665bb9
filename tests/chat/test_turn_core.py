"""The chat core's turn (api/chat/service.py post_message) around Rasa: it holds no database connection while Rasa
answers (the bot's actions call back into the api for a knowledge search or a ticket and need connections of their
own, so turns that kept theirs would starve them), and a turn Rasa leaves silent still gets an answer."""

from __future__ import annotations

import json

import httpx

from api.channels import Channel
from api.chat import service as chat
from api.chat.rasa import RasaClient
from api.chat.service import NO_REPLY, OPEN_TICKET
from api.db import make_pool


async def test_the_bots_callback_gets_a_connection_while_the_turn_waits_on_rasa(conn, database_url, settings):
    pool = make_pool(database_url, min_size=1, max_size=1, timeout=5.0)  # one connection: a held one starves
    await pool.open()
    seen: list[str] = []

    async def action_server_calls_back(request: httpx.Request) -> httpx.Response:
        sender = json.loads(request.content)["sender"]
        async with pool.connection() as callback:  # what the action server's knowledge search needs
            row = await (await callback.execute(
                "SELECT text FROM chat_messages WHERE conversation_id = %s ORDER BY id DESC LIMIT 1",
                (sender,))).fetchone()
        seen.append(row["text"])
        return httpx.Response(200, json={"messages": [{"recipient_id": sender, "text": "Here is how."}],
                                         "intent": {"name": "ask_howto", "confidence": 0.9}})

    rasa = RasaClient("http://rasa.test", channel_secret="s", transport=httpx.MockTransport(action_server_calls_back))
    try:
        conversation_id = str(await chat.start(conn, channel=Channel.web, employee=None, channel_user=None))
        turn = await chat.post_message(pool, settings, rasa, conversation_id=conversation_id,
                                       text="how do I map a network drive")
    finally:
        await pool.close()
    assert seen == ["how do I map a network drive"]  # the callback ran, and saw the stored question
    assert [m.text for m in turn.messages] == ["Here is how."]
    assert turn.intent == "ask_howto"


async def test_a_turn_the_bot_leaves_silent_gets_an_apology_with_the_ticket_button(conn, app, settings):
    """An action that failed or timed out in the action server: Rasa answers 200 with no messages."""
    def silent(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"messages": [], "intent": {"name": "ask_howto", "confidence": 0.8}})

    rasa = RasaClient("http://rasa.test", channel_secret="s", transport=httpx.MockTransport(silent))
    conversation_id = str(await chat.start(conn, channel=Channel.web, employee=None, channel_user=None))
    turn = await chat.post_message(app.state.pool, settings, rasa, conversation_id=conversation_id,
                                   text="how do I restore a deleted file")
    [message] = turn.messages
    assert message.text == NO_REPLY and [b.payload for b in message.buttons] == [OPEN_TICKET]
    stored = await chat.transcript(conn, conversation_id=conversation_id)
    assert [m.text for m in stored] == ["how do I restore a deleted file", NO_REPLY]
