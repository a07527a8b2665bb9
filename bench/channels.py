"""Slack and Teams turns vs. the same turns in the widget, and IMAP ingest, in one run (issue #12).

Chat: N concurrent simulated employees each hold the same short conversation (a greeting, a knowledge-base
question, thanks) through three paths, answered by the real Rasa server and action server:

- ``widget``: the chat HTTP API (start + messages); the baseline;
- ``slack``: signed ``event_callback`` DMs to ``/slack/events``; a turn lasts from the POST until the fake Slack
  API (tests/fakes/slack_server.py) has received the turn's last ``chat.postMessage``;
- ``teams``: message activities with a signed Bot Connector JWT to ``/teams/messages``; a turn lasts until the
  fake Bot Connector (tests/fakes/bot_framework.py) has received the turn's last reply.

A channel turn's replies are counted as the widget answers the same turn (the warm-up conversation says how
many messages each turn gets); the arrival time is taken in the fake's thread when the reply is recorded. Each
Slack or Teams delivery opens its own connection (a turn's wait outlasts uvicorn's keep-alive); the widget keeps its
connections.

E-mail: 1,000 messages (plain, HTML only, and multipart with a small attachment) APPENDed to a real Dovecot
(tests/fakes/dovecot.py), then the e-mail channel's poll (``ingest.poll_mailbox``, DESKMATE_EMAIL_POLL_BATCH at
a time) until all are tickets. The baseline is the same 1,000 messages read from the same server with the same
IMAP client and parsed, without the database: fetch and parse rates, so the rest of the poll's time is the
database's (claiming the Message-ID, the ticket, the answer job, the cursor).

    .venv/bin/python bench/channels.py                      # starts its own rasa + actions + api (~2-3 min)
    .venv/bin/python bench/channels.py --turns 3 --concurrency 4 --skip-email
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import psycopg
from _server import REPO_ROOT, api_process, bench_database, summary
from chat import start_rasa
from psycopg.rows import dict_row
from pydantic import SecretStr

sys.path.insert(0, str(REPO_ROOT / "tests"))  # the fakes of Slack, the Bot Framework and Dovecot

from fakes.bot_framework import FakeBotFramework, FakeBotFrameworkServer, activity
from fakes.dovecot import Dovecot
from fakes.slack_server import TEAM, FakeSlack, FakeSlackServer, signed

from api.auth.models import Principal, Role
from api.channels.email import ingest
from api.channels.email import parse as mail
from api.channels.email import service as mailboxes
from api.channels.email.imap import ImapClient
from api.channels.email.models import MailboxIn
from api.chat.identity import sign_identity
from api.dev import stack as deskmate_stack
from api.settings import Settings

CONVERSATION = ["hi there", "how do i restore a file i deleted from onedrive", "thanks a lot"]
KB_TURN = 1  # answered from the knowledge base, with sources: counted, so a degraded answer shows in the figures
EMAIL = "jordan.blake@example.com"
REPLY_TIMEOUT_S = 90.0
MAILS = 1000
ADMIN = Principal(id=0, email="admin@localhost", name="bench admin", role=Role.admin)


def log(text: str) -> None:
    print(f"[channels {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Arrivals(list[Any]):
    """A fake's list of what it received that also notes, per conversation, when each item arrived."""

    def __init__(self, key: Callable[[Any], str]) -> None:
        super().__init__()
        self.key = key
        self.at: dict[str, list[float]] = {}

    def append(self, item: Any) -> None:
        self.at.setdefault(self.key(item), []).append(time.perf_counter())
        super().append(item)

    async def wait(self, key: str, count: int) -> float:
        """When the ``count``-th item for ``key`` arrived."""
        deadline = time.perf_counter() + REPLY_TIMEOUT_S
        while len(self.at.get(key, ())) < count:
            if time.perf_counter() > deadline:
                raise Lost(f"{key}: {len(self.at.get(key, ()))} of {count} replies after {REPLY_TIMEOUT_S:g} s")
            await asyncio.sleep(0.002)
        return self.at[key][count - 1]


class Lost(Exception):
    """A turn whose reply did not come within REPLY_TIMEOUT_S."""


# ---------- the three paths: start(n) → state, say(state, turn index) → seconds ----------

class Widget:
    keepalive = True

    def __init__(self, api: str, identity: str) -> None:
        self.api, self.identity = api, identity
        self.sourced = 0  # knowledge-base turns answered with sources
        self.replies: list[int] = []  # messages per turn of the last conversation, as the widget answered

    async def start(self, http: httpx.AsyncClient) -> tuple[str, dict[str, str]]:
        r = (await http.post(f"{self.api}/api/v1/chat/conversations", json={"identity": self.identity})
             ).raise_for_status().json()
        self.replies = []
        return r["conversation_id"], {"X-Chat-Session": r["session_token"]}

    async def say(self, http: httpx.AsyncClient, state: tuple[str, dict[str, str]], turn: int) -> float:
        conversation, headers = state
        started = time.perf_counter()
        r = await http.post(f"{self.api}/api/v1/chat/conversations/{conversation}/messages",
                            json={"text": CONVERSATION[turn]}, headers=headers)
        elapsed = time.perf_counter() - started
        r.raise_for_status()
        self.replies.append(len(r.json()["messages"]))
        assert self.replies[-1], "the widget returned no reply"
        self.sourced += turn == KB_TURN and any(m["citations"] for m in r.json()["messages"])
        return elapsed


@dataclass
class Dm:
    channel: str
    user: str
    received: int = 0  # replies so far


class Slack:
    keepalive = False  # a turn idles longer than uvicorn's keep-alive: a reused connection may be closing

    def __init__(self, api: str, fake: FakeSlack, secret: str, replies: list[int]) -> None:
        self.api, self.fake, self.secret, self.replies = api, fake, secret, replies
        self.posted = Arrivals(lambda post: str(post["channel"]))
        fake.posted = self.posted
        self._ts = 0
        self.sourced = 0

    async def start(self, http: httpx.AsyncClient) -> Dm:
        dm = Dm(f"D{uuid.uuid4().hex[:10].upper()}", f"U{uuid.uuid4().hex[:10].upper()}")
        self.fake.add_user(dm.user, EMAIL)
        return dm

    async def say(self, http: httpx.AsyncClient, dm: Dm, turn: int) -> float:
        self._ts += 1
        ts = f"1800000000.{self._ts:06d}"
        body = json.dumps({"token": "x", "team_id": TEAM, "api_app_id": "A1", "type": "event_callback",
                           "event_id": f"Ev{uuid.uuid4().hex[:12]}", "event_time": 1800000000,
                           "event": {"type": "message", "channel_type": "im", "user": dm.user,
                                     "text": CONVERSATION[turn], "ts": ts, "channel": dm.channel, "event_ts": ts}})
        started = time.perf_counter()
        r = await http.post(f"{self.api}/slack/events", content=body.encode(), headers=signed(self.secret, body))
        assert r.status_code == 200, r.text
        dm.received += self.replies[turn]
        arrived = await self.posted.wait(dm.channel, dm.received)
        posts = self.fake.posts_to(dm.channel)[-self.replies[turn]:]
        self.sourced += turn == KB_TURN and any(b["type"] == "context" for p in posts for b in p.get("blocks") or [])
        return arrived - started


@dataclass
class Chat:
    conversation: str
    user: str
    aad: str
    received: int = 0


class Teams:
    keepalive = False

    def __init__(self, api: str, fake: FakeBotFramework, replies: list[int]) -> None:
        self.api, self.fake, self.replies = api, fake, replies
        self.posted = Arrivals(lambda posted: str(posted.conversation_id))
        fake.activities = self.posted
        self.sourced = 0

    async def start(self, http: httpx.AsyncClient) -> Chat:
        chat = Chat(f"a:{uuid.uuid4().hex}", f"29:{uuid.uuid4().hex[:10]}", uuid.uuid4().hex)
        self.fake.members[chat.user] = {"id": chat.user, "userPrincipalName": EMAIL}
        return chat

    async def say(self, http: httpx.AsyncClient, chat: Chat, turn: int) -> float:
        body = activity(self.fake, text=CONVERSATION[turn], user=chat.user, aad=chat.aad,
                        conversation=chat.conversation)
        token = self.fake.token()
        started = time.perf_counter()
        r = await http.post(f"{self.api}/teams/messages", json=body, headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 202, r.text
        chat.received += self.replies[turn]
        arrived = await self.posted.wait(chat.conversation, chat.received)
        posts = [p for p in self.posted if p.conversation_id == chat.conversation][-self.replies[turn]:]
        self.sourced += turn == KB_TURN and any(len(a["content"]["body"]) > 1 for p in posts
                                                for a in p.body.get("attachments") or [])
        return arrived - started


async def conversations(path: Any, clients: int, turns: int) -> dict[str, float]:
    """``clients`` concurrent employees, each saying ``turns`` turns (a new conversation every len(CONVERSATION))."""
    latencies: list[float] = []
    lost: list[str] = []
    path.sourced = 0
    log(f"  {type(path).__name__.lower()}: {clients} concurrent, {turns} turns each")

    async def employee(http: httpx.AsyncClient) -> None:
        state = None
        for i in range(turns):
            if i % len(CONVERSATION) == 0:
                state = await path.start(http)
            if state is None:
                continue  # the rest of a conversation that lost a turn: its next reply could be the late one
            try:
                latencies.append(await path.say(http, state, i % len(CONVERSATION)))
            except Lost as exc:
                log(f"  lost: {exc}")
                lost.append(str(exc))
                state = None

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients if path.keepalive else 0)
    async with httpx.AsyncClient(limits=limits, timeout=REPLY_TIMEOUT_S) as http:
        started = time.perf_counter()
        await asyncio.gather(*(employee(http) for _ in range(clients)))
        elapsed = time.perf_counter() - started
    stats = summary(latencies, elapsed)
    stats["turns_per_s"] = stats.pop("per_s")
    stats["turns"] = stats.pop("requests")
    stats["lost_turns"] = len(lost)  # no reply within REPLY_TIMEOUT_S; not in the latencies
    stats["kb_turns"] = sum(1 for _ in range(clients) for i in range(turns) if i % len(CONVERSATION) == KB_TURN)
    stats["kb_turns_with_sources"] = path.sourced
    return stats


def against(path: dict[str, float], widget: dict[str, float]) -> dict[str, float]:
    return {**path, "ratio_p50": round(path["p50_ms"] / widget["p50_ms"], 3),
            "ratio_p95": round(path["p95_ms"] / widget["p95_ms"], 3),
            "throughput_ratio": round(path["turns_per_s"] / widget["turns_per_s"], 3)}


# ---------- the processes ----------

def service_token(url: str) -> str:
    async def make() -> str:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True, row_factory=dict_row) as conn:
            return await deskmate_stack.service_token(conn)

    return asyncio.run(make())


def start_chat_stack(stack: ExitStack, url: str, settings: Settings) -> tuple[str, FakeSlack, FakeBotFramework, str]:
    """The demo KB indexed, the real Rasa + action server, and an api with Slack and Teams on against the fakes."""
    rasa_port, actions_port, api_port = free_port(), free_port(), free_port()
    env = {**os.environ, **deskmate_stack.process_env(settings, database_url=url, tracker_url=url,
                                                      bot_token=service_token(url)),
           "DESKMATE_ACTIONS_URL": f"http://127.0.0.1:{actions_port}/webhook",
           "DESKMATE_API_URL": f"http://127.0.0.1:{api_port}", "DESKMATE_DATA_DIR": str(settings.data_dir)}
    log("indexing the demo knowledge base and starting rasa + actions (minutes on a loaded machine)")
    kb = subprocess.Popen([sys.executable, "-m", "api.cli", "kb", "ingest", str(REPO_ROOT / "data" / "kb")], env=env,
                          cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    stack.callback(kb.kill)  # a no-op once it has finished
    started = time.perf_counter()
    for proc in start_rasa(env, rasa_port, actions_port, timeout_s=900):
        stack.callback(proc.wait, 30)
        stack.callback(proc.terminate)
    log(f"rasa is up after {time.perf_counter() - started:.0f} s")
    _, err = kb.communicate(timeout=900)
    if kb.returncode:
        raise SystemExit(f"kb ingest failed: {err.decode()[-2000:]}")
    slack = stack.enter_context(FakeSlackServer())
    teams = stack.enter_context(FakeBotFrameworkServer())
    secret = "bench-slack-signing-" + os.urandom(12).hex()
    api = stack.enter_context(api_process(
        url, api_port, DESKMATE_RASA_URL=f"http://127.0.0.1:{rasa_port}", DESKMATE_DATA_DIR=str(settings.data_dir),
        DESKMATE_RASA_TOKEN=env["DESKMATE_RASA_TOKEN"], DESKMATE_RASA_TIMEOUT_S="60",
        # every simulated employee starts widget conversations from 127.0.0.1: one address, no start limit
        DESKMATE_CHAT_START_PER_ADDRESS_PER_MINUTE="100000", DESKMATE_CHAT_START_PER_MINUTE="100000",
        DESKMATE_SLACK_BOT_TOKEN=slack.token, DESKMATE_SLACK_SIGNING_SECRET=secret, DESKMATE_SLACK_TEAM_ID=TEAM,
        DESKMATE_SLACK_API_URL=slack.url, DESKMATE_TEAMS_APP_ID=teams.app_id,
        DESKMATE_TEAMS_CLIENT_SECRET=teams.client_secret, DESKMATE_TEAMS_TENANT_ID="tenant-1",
        DESKMATE_TEAMS_OPENID_METADATA_URL=f"{teams.url}/openid", DESKMATE_TEAMS_TOKEN_URL=f"{teams.url}/token",
        DESKMATE_TEAMS_ALLOW_LOOPBACK="true"))
    return api, slack, teams, secret


async def chat_levels(api: str, slack_fake: FakeSlack, teams_fake: FakeBotFramework, secret: str,
                      settings: Settings, levels: list[int], turns: int) -> tuple[list[int], list[dict[str, Any]]]:
    widget = Widget(api, sign_identity(settings, EMAIL))
    await conversations(widget, 1, len(CONVERSATION))  # warm-up; says how many messages each turn gets
    replies = list(widget.replies)
    slack, teams = Slack(api, slack_fake, secret, replies), Teams(api, teams_fake, replies)
    await conversations(slack, 1, len(CONVERSATION))  # warm-up: Slack's client, the Bot Framework's keys and token
    await conversations(teams, 1, len(CONVERSATION))
    results = []
    for clients in levels:
        log(f"{clients} concurrent conversations, {turns} turns each: widget, slack, teams")
        base = await conversations(widget, clients, turns)
        results.append({"concurrency": clients, "widget": base,
                        "slack": against(await conversations(slack, clients, turns), base),
                        "teams": against(await conversations(teams, clients, turns), base)})
    return replies, results


# ---------- e-mail ----------

def mails(senders: list[str]) -> list[bytes]:
    """MAILS messages from ``senders`` in turn: plain text, HTML only, multipart with a 2 KB attachment."""
    out = []
    for i in range(MAILS):
        msg = EmailMessage()
        msg["From"], msg["To"] = senders[i % len(senders)], "helpdesk@deskmate.test"
        msg["Subject"], msg["Message-ID"] = f"Printer on floor {i % 7} jams (#{i})", f"<bench-{i}-{uuid.uuid4().hex}@example.com>"
        text = f"Hello,\n\nthe printer on floor {i % 7} jams on every second page since this morning.\n\nThanks\n"
        if i % 3 == 0:
            msg.set_content(text)
        elif i % 3 == 1:
            msg.set_content(f"<html><body><p>{text.replace(chr(10) * 2, '</p><p>')}</p></body></html>", subtype="html")
        else:
            msg.set_content(text)
            msg.add_attachment(os.urandom(2048), maintype="application", subtype="octet-stream",
                               filename=f"log-{i}.bin")
        out.append(msg.as_bytes())
    return out


async def email_bench(url: str, settings: Settings) -> dict[str, Any]:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True, row_factory=dict_row) as conn:
        rows = await (await conn.execute(
            "SELECT email FROM users WHERE role = 'employee' AND active ORDER BY id LIMIT 10")).fetchall()
        senders = [r["email"] for r in rows]
        with Dovecot() as imap:
            user, password = imap.add_user()
            log(f"appending {MAILS} messages to dovecot")
            with imap.login(user, password) as box:
                for raw in mails(senders):
                    typ, data = box.client.append("INBOX", None, None, raw)
                    assert typ == "OK", data
            created, _ = await mailboxes.create(conn, settings, principal=ADMIN, data=MailboxIn(
                name="bench", host=imap.host, port=imap.port, tls="none", username=user,
                password=SecretStr(password)))
            row = dict(await mailboxes.get_row_or_raise(conn, created.id))

            log("baseline: fetch and parse without the database")
            async with ImapClient(mailboxes.imap_config(settings, row)) as client:
                started = time.perf_counter()
                sizes = await client.sizes_after(0, limit=MAILS)
                fetched = [await client.fetch(uid, size=size, max_bytes=settings.email.max_message_bytes)
                           for uid, size in sizes.items()]
                fetch_s = time.perf_counter() - started
            started = time.perf_counter()
            parsed = [mail.parse(f.raw, limits=settings.email) for f in fetched if f is not None]
            parse_s = time.perf_counter() - started
            assert len(parsed) == MAILS and all(p.sender for p in parsed), "the baseline did not read every message"

            log(f"poll until all {MAILS} are tickets")
            polls, outcomes = 0, dict[str, int]()
            started = time.perf_counter()
            while sum(outcomes.values()) < MAILS:
                result = await ingest.poll_mailbox(conn, settings, mailbox_id=created.id)
                assert result.error is None and result.outcomes, result
                polls += 1
                for outcome, n in result.outcomes.items():
                    outcomes[outcome] = outcomes.get(outcome, 0) + n
            poll_s = time.perf_counter() - started
        tickets = await (await conn.execute(
            "SELECT count(DISTINCT ticket_id) AS n FROM email_messages WHERE mailbox_id = %s", (created.id,))).fetchone()
    assert outcomes == {"ticket": MAILS} and tickets and tickets["n"] == MAILS, (outcomes, tickets)
    return {
        "messages": MAILS, "mix": "1/3 plain, 1/3 HTML only, 1/3 multipart with a 2 KB attachment",
        "poll_batch": settings.email.poll_batch, "polls": polls, "outcomes": outcomes,
        "poll": {"seconds": round(poll_s, 2), "messages_per_s": round(MAILS / poll_s, 1)},
        "baseline_no_database": {
            "imap_fetch": {"seconds": round(fetch_s, 2), "messages_per_s": round(MAILS / fetch_s, 1)},
            "parse": {"seconds": round(parse_s, 2), "messages_per_s": round(MAILS / parse_s, 1)}},
        "share_of_poll": {"imap_fetch": round(fetch_s / poll_s, 3), "parse": round(parse_s / poll_s, 3),
                          "database_and_rest": round(1 - (fetch_s + parse_s) / poll_s, 3)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[4, 20], help="concurrent conversations")
    parser.add_argument("--turns", type=int, default=9, help=f"turns per simulated employee (a new conversation "
                        f"every {len(CONVERSATION)})")
    parser.add_argument("--skip-chat", action="store_true", help="only the e-mail part")
    parser.add_argument("--skip-email", action="store_true", help="only the chat paths")
    parser.add_argument("--json", type=Path, help="also write the result to this file")
    args = parser.parse_args()
    settings = Settings(data_dir=REPO_ROOT / "var" / "bench")
    out: dict[str, Any] = {"benchmark": "channels"}

    with ExitStack() as stack:
        url = stack.enter_context(bench_database("deskmate_bench_channels"))
        if not args.skip_chat:
            api, slack, teams, secret = start_chat_stack(stack, url, settings)
            replies, levels = asyncio.run(chat_levels(api, slack, teams, secret, settings, args.concurrency,
                                                      args.turns))
            out["chat"] = {"conversation": CONVERSATION, "replies_per_turn": replies, "turns_per_client": args.turns,
                           "levels": levels}
        if not args.skip_email:
            out["email"] = asyncio.run(email_bench(url, settings))
    out["python"] = sys.version.split()[0]
    text = json.dumps(out, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
