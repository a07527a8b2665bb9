"""The real deskmate api for the bot's tests, run with the backend's Python (.venv), not Rasa's.

    .venv/bin/python tests/bot/api_process.py --port 8123

Sets up a fresh test database on the embedded server (migrations, demo organisation, a service token, an
employee, two more and an admin), then serves the real app with uvicorn. The app is extended by
one test-only router under ``/_test`` that does what the chat gateway does for a turn, so the action tests
need no Python 3.11 code:

- ``GET /_test/setup``: the tokens and e-mail addresses;
- ``POST /_test/conversations`` ``{"email": str | null}``: starts a conversation (web channel);
- ``POST /_test/conversations/{id}/turn`` ``{"text": str, "intent": str | null}``: stores the user's
  message as the gateway does and returns the turn's metadata (with a fresh per-turn assertion).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
import uvicorn  # noqa: E402
from fastapi import APIRouter, Request  # noqa: E402
from psycopg.rows import dict_row  # noqa: E402
from pydantic import BaseModel  # noqa: E402

from api import migrate  # noqa: E402
from api.app import create_app  # noqa: E402
from api.auth import service as people  # noqa: E402
from api.auth.models import Role, UserCreate  # noqa: E402
from api.channels import Channel  # noqa: E402
from api.chat import service as chat  # noqa: E402
from api.dev import demo, embedded_pg, stack  # noqa: E402
from api.settings import Settings  # noqa: E402

DATA_DIR = Path(os.environ.get("DESKMATE_TEST_DATA_DIR", ROOT / "var" / "test"))
DATABASE = "deskmate_test_bot"


class Start(BaseModel):
    email: str | None = None


class UserTurn(BaseModel):
    text: str
    intent: str | None = None


async def _people(url: str) -> dict[str, str]:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True, row_factory=dict_row) as conn:
        await demo.seed(conn, path=ROOT / "data" / "demo" / "org.yml", tokens_file=DATA_DIR / "bot-tokens.env")
        setup = {"service_token": await stack.service_token(conn)}
        for key, role in (("employee", Role.employee), ("other", Role.employee), ("newcomer", Role.employee),
                          ("admin", Role.admin)):
            email = f"bot-test-{key}@example.com"
            user = await people.create_user(conn, data=UserCreate(email=email, name=f"Bot Test {key}", role=role))
            setup[f"{key}_email"] = email
            setup[f"{key}_token"] = (await people.create_token(conn, user=user)).token
        return setup


def test_router(setup: dict[str, str]) -> APIRouter:
    router = APIRouter(prefix="/_test")

    @router.get("/setup")
    async def get_setup() -> dict[str, str]:
        return setup

    @router.post("/conversations")
    async def start(data: Start, request: Request) -> dict[str, str]:
        async with request.app.state.pool.connection() as conn:
            employee = await people.get_by_email(conn, email=data.email) if data.email else None
            conversation_id = await chat.start(conn, channel=Channel.web, employee=employee, channel_user=data.email)
        return {"conversation_id": str(conversation_id)}

    @router.post("/conversations/{conversation_id}/turn")
    async def turn(conversation_id: str, data: UserTurn, request: Request) -> dict[str, Any]:
        async with request.app.state.pool.connection() as conn:
            conversation = await chat.get_conversation(conn, conversation_id=conversation_id)
            message = await chat.store(conn, conversation_id, "user", data.text)
            if data.intent:
                await conn.execute("UPDATE chat_messages SET intent = %s, confidence = 0.9 WHERE id = %s",
                                   (data.intent, message.id))
        metadata = chat.turn_metadata(request.app.state.settings, conversation)
        hint = await request.app.state.rasa.hinter.hint(data.text)  # the gateway's hint, as RasaClient sends it
        return {**metadata, "nlu_hint": hint} if hint else metadata

    return router


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    server, _ = embedded_pg.start(DATA_DIR)
    embedded_pg.drop_database(server.get_uri(), DATABASE)
    embedded_pg.ensure_database(server.get_uri(), DATABASE)
    url = server.get_uri(DATABASE)
    migrate.migrate(url, ROOT / "migrations")
    setup = asyncio.run(_people(url))
    settings = Settings(env="test", database_url=url, data_dir=DATA_DIR, port=args.port, log_level="WARNING",
                        kb_preload_model=True,  # the first question must not wait for the model
                        _env_file=None)  # type: ignore[call-arg]
    app = create_app(settings)
    app.include_router(test_router(setup))
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
