"""The real deskmate api for the bot's tests, run with the backend's Python (.venv), not Rasa's.

    .venv/bin/python tests/bot/api_process.py --port 8123

Sets up a fresh test database on the embedded server (migrations, demo organisation, a service token, an
employee, two more and an admin), then serves the real app with uvicorn. The app is extended by
one test-only router under ``/_test`` that does what the chat gateway does for a turn, so the action tests
need no Python 3.11 code:

- ``GET /_test/setup``: the tokens and e-mail addresses;
- ``POST /_test/conversations`` ``{"email": str | null}``: starts a conversation (web channel);
- ``POST /_test/conversations/{id}/turn`` ``{"text": str, "intent": str | null}``: stores the user's
  message as the gateway does and returns the turn's metadata (with a fresh per-turn assertion);
- ``POST /_test/conversations/{id}/say`` ``{"text": str}``: the gateway's step-up screen too
  (api/chat/screening.py): ``{"to_rasa": what Rasa would receive, "metadata": …}``;
- ``GET /_test/mail?to=``: the newest e-mail the api sent to that address (an SMTP server in this process);
- ``POST /_test/directory/locked`` ``{"email": str}``: a locked account with that e-mail address in a real
  slapd (started on first use, with the engine's runtime wired to it); ``GET /_test/directory/{uid}``: whether
  it opens with its password now;
- ``POST /_test/directory/report`` ``{"email": str, "manager_email": str}``: an account with that e-mail address
  whose manager (another new account) has ``manager_email``; its uid;
- ``POST /_test/workflows/drain``: the workflow queue's worker until no job is due (``deskmate worker --burst``);
- ``GET /_test/requests?trace_id=``: the requests the api answered in that trace (its access log records).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the shared fakes: a real SMTP server, a real slapd

import psycopg  # noqa: E402
import uvicorn  # noqa: E402
from fakes.slapd_server import GROUPS, LAYOUT, PASSWORDS, PEOPLE, Slapd, ldap_settings  # noqa: E402
from fakes.smtp_sink import SmtpSink  # noqa: E402
from fastapi import APIRouter, Request  # noqa: E402
from psycopg.rows import dict_row  # noqa: E402
from pydantic import BaseModel, SecretStr  # noqa: E402

from api import migrate  # noqa: E402
from api.app import create_app  # noqa: E402
from api.auth import service as people  # noqa: E402
from api.auth.models import Role, UserCreate  # noqa: E402
from api.channels import Channel  # noqa: E402
from api.chat import screening  # noqa: E402
from api.chat import service as chat  # noqa: E402
from api.dev import demo, embedded_pg, stack  # noqa: E402
from api.integrations.ldap.slapd import ldif  # noqa: E402
from api.integrations.smtp.settings import SmtpSettings  # noqa: E402
from api.jobs import worker  # noqa: E402
from api.settings import Settings  # noqa: E402
from api.workflows import runtime as runtimes  # noqa: E402

DATA_DIR = Path(os.environ.get("DESKMATE_TEST_DATA_DIR", ROOT / "var" / "test"))
DATABASE = "deskmate_test_bot"


class Start(BaseModel):
    email: str | None = None


class UserTurn(BaseModel):
    text: str
    intent: str | None = None


class Said(BaseModel):
    text: str


class Report(BaseModel):
    email: str
    manager_email: str


DIRECTORY_PASSWORD = "Demo-pass-1"


class Directory:
    """A real slapd for the workflow tests, started on first use; the engine's runtime is wired to it."""

    def __init__(self) -> None:
        self.server: Slapd | None = None

    def start(self, settings: Settings) -> Slapd:
        if self.server is None:
            seed = ldif(LAYOUT, people=PEOPLE, groups=GROUPS, services=PASSWORDS)
            self.server = Slapd(LAYOUT, seed, writers=[LAYOUT.service("deskmate")]).__enter__()
            wired = settings.model_copy(update={"ldap": ldap_settings(
                self.server, bind_password=SecretStr(PASSWORDS["deskmate"]))})
            runtimes.install(runtimes.default(wired))
        return self.server

    def locked_account(self, settings: Settings, email: str) -> str:
        """A new account with ``email``, locked by three failed binds (the policy's limit); its uid."""
        server = self.start(settings)
        uid = f"wf{uuid.uuid4().hex[:8]}"
        admin = server.admin()
        try:
            admin.add(LAYOUT.person(uid), ["inetOrgPerson"], {"uid": uid, "cn": uid, "sn": uid, "mail": email,
                                                             "userPassword": DIRECTORY_PASSWORD})
        finally:
            admin.unbind()
        for _ in range(3):
            server.bind(LAYOUT.person(uid), "wrong")
        return uid

    def report(self, settings: Settings, email: str, manager_email: str) -> str:
        """A new account with ``email`` whose manager is a new account with ``manager_email``; its uid."""
        server = self.start(settings)
        uid = f"rq{uuid.uuid4().hex[:8]}"
        admin = server.admin()
        try:
            admin.add(LAYOUT.person(f"mgr-{uid}"), ["inetOrgPerson"], {"uid": f"mgr-{uid}", "cn": "Manager",
                                                                      "sn": "Manager", "mail": manager_email})
            admin.add(LAYOUT.person(uid), ["inetOrgPerson"], {"uid": uid, "cn": uid, "sn": uid, "mail": email,
                                                             "manager": LAYOUT.person(f"mgr-{uid}")})
        finally:
            admin.unbind()
        return uid

    def stop(self) -> None:
        if self.server is not None:
            self.server.__exit__(None, None, None)


async def _people(url: str) -> dict[str, str]:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True, row_factory=dict_row) as conn:
        await demo.seed(conn, path=ROOT / "data" / "demo" / "org.yml", tokens_file=DATA_DIR / "bot-tokens.env")
        setup = {"service_token": await stack.service_token(conn)}
        for key, role in (("employee", Role.employee), ("other", Role.employee), ("newcomer", Role.employee),
                          ("unlucky", Role.employee), ("requester", Role.employee),
                          ("approver", Role.employee), ("buyer", Role.employee), ("buyer_manager", Role.employee),
                          ("admin", Role.admin)):
            email = f"bot-test-{key}@example.com"
            user = await people.create_user(conn, data=UserCreate(email=email, name=f"Bot Test {key}", role=role))
            setup[f"{key}_email"] = email
            setup[f"{key}_token"] = (await people.create_token(conn, user=user)).token
        return setup


class AccessRecords(logging.Handler):
    """Keeps the api's access log records (logger deskmate.access), which carry the request's trace_id."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def install(self) -> AccessRecords:
        access = logging.getLogger("deskmate.access")
        access.setLevel(logging.INFO)
        access.propagate = False  # kept here only: the api's own log stays at WARNING
        access.addHandler(self)
        return self


def test_router(setup: dict[str, str], smtp: SmtpSink, directory: Directory,
                access: AccessRecords | None = None) -> APIRouter:
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

    @router.post("/conversations/{conversation_id}/say")
    async def say(conversation_id: str, data: Said, request: Request) -> dict[str, Any]:
        """The gateway's part of a turn including its step-up screen: what Rasa would receive, and the metadata."""
        settings = request.app.state.settings
        async with request.app.state.pool.connection() as conn:
            conversation = await chat.get_conversation(conn, conversation_id=conversation_id)
            screened = await screening.screen(conn, settings, conversation=conversation, text=data.text)
            await chat.store(conn, conversation_id, "user", screened.kept)
        return {"to_rasa": screened.to_rasa, "metadata": chat.turn_metadata(settings, conversation)}

    @router.get("/mail")
    async def mail(to: str) -> dict[str, str]:
        sent = [r.message for r in smtp.sink.received if to in r.rcpt_tos]
        return {"body": sent[-1].get_content() if sent else ""}

    @router.post("/directory/locked")
    async def locked(data: Start, request: Request) -> dict[str, str]:
        uid = await asyncio.to_thread(directory.locked_account, request.app.state.settings, data.email or "")
        return {"username": uid}

    @router.post("/directory/report")
    async def report(data: Report, request: Request) -> dict[str, str]:
        uid = await asyncio.to_thread(directory.report, request.app.state.settings, data.email, data.manager_email)
        return {"username": uid}

    @router.get("/directory/{uid}")
    async def opens(uid: str, request: Request) -> dict[str, bool]:
        server = directory.start(request.app.state.settings)
        return {"opens": await asyncio.to_thread(server.bind, LAYOUT.person(uid), DIRECTORY_PASSWORD)}

    @router.get("/requests")
    async def requests_in(trace_id: str) -> list[dict[str, Any]]:
        return [{"method": r.method, "path": r.path, "status": r.status}  # type: ignore[attr-defined]
                for r in (access.records if access else []) if getattr(r, "trace_id", None) == trace_id]

    @router.post("/workflows/drain")
    async def drain(request: Request) -> dict[str, str]:
        await worker.run(request.app.state.settings, queues=["workflows"], wait=False)
        return {}

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
    with SmtpSink() as smtp:
        settings = Settings(env="test", database_url=url, data_dir=DATA_DIR, port=args.port, log_level="WARNING",
                            kb_preload_model=True,  # the first question must not wait for the model
                            smtp=SmtpSettings(host="127.0.0.1", port=smtp.port, tls="none", user=smtp.sink.user,
                                              password=SecretStr(smtp.sink.password), sender="desk@deskmate.test",
                                              _env_file=None),
                            _env_file=None)  # type: ignore[call-arg]
        directory = Directory()
        app = create_app(settings)
        app.include_router(test_router(setup, smtp, directory, AccessRecords().install()))
        try:
            uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")
        finally:
            directory.stop()


if __name__ == "__main__":
    main()
