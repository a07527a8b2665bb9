"""``deskmate dev fake-glpi``: the real command in a process; a ticket opened in deskmate reaches the fake, a
follow-up added through the fake's REST API comes back as a comment, and two starts leave one connector."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from fakes.triage import drain, worker_settings

from api.auth.models import Principal
from api.integrations.sync import engine
from api.kb.embedding import get_embedder
from api.settings import REPO_ROOT, Settings
from api.tickets import service as tickets
from api.tickets.models import Ticket, TicketCreate
from api.triage import pipeline


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(settings: Settings, *, allow_private: bool) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": settings.database_url.get_secret_value(), "DESKMATE_ENV": "test",
            "DESKMATE_DATA_DIR": str(settings.data_dir), "PYTHONUNBUFFERED": "1",
            "DESKMATE_OUTBOUND_ALLOW_PRIVATE": "true" if allow_private else "false"}


@contextmanager
def fake_glpi(settings: Settings, port: int, connector: str) -> Iterator[str]:
    """``deskmate dev fake-glpi`` until it says it serves; yields what it printed; Ctrl-C at the end."""
    proc = subprocess.Popen([sys.executable, "-m", "api.cli", "dev", "fake-glpi", "--port", str(port),
                             "--connector", connector], cwd=REPO_ROOT, env=_env(settings, allow_private=True),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        while not lines or not lines[-1].startswith("serving"):
            line = proc.stdout.readline()
            assert line, "the command ended early:\n" + "".join(lines)
            lines.append(line)
        yield "".join(lines)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            rest, _ = proc.communicate(timeout=180)
        except subprocess.TimeoutExpired:
            proc.kill()
            rest, _ = proc.communicate()
            raise AssertionError("Ctrl-C did not stop the command:\n" + rest) from None
    assert proc.returncode == 0 and "fake GLPI stopped" in rest, rest


def _tokens(output: str) -> dict[str, str]:
    user = re.search(r"user_token (\w+)", output)
    app = re.search(r"App-Token: (\w+)", output)
    assert user and app, output
    return {"App-Token": app[1], "Authorization": f"user_token {user[1]}"}


def test_without_private_addresses_allowed_it_says_how(settings):
    done = subprocess.run([sys.executable, "-m", "api.cli", "dev", "fake-glpi", "--port", str(_free_port())],
                          cwd=REPO_ROOT, env=_env(settings, allow_private=False), capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 1 and "DESKMATE_OUTBOUND_ALLOW_PRIVATE=true" in done.stderr


async def test_a_ticket_goes_to_the_fake_and_a_follow_up_comes_back(settings, conn, make_actor):
    name, port = f"demo-{uuid.uuid4().hex[:8]}", _free_port()
    employee = await make_actor()
    work = worker_settings(settings)
    try:  # the connector is removed whatever happens: an enabled one would sync every later test's tickets
        user = employee.user
        principal = Principal(id=user.id, email=user.email, name=user.name, role=user.role)

        async def pushed(title: str) -> Ticket:
            ticket, _ = await tickets.create(conn, principal=principal, data=TicketCreate(title=title))
            # this ticket's triage (not the session's other queued tickets), then the push it queued
            await pipeline.process_ticket(conn, ticket_id=ticket.id, settings=work, embedder=get_embedder(settings))
            await drain(work, queues=["sync"])
            return ticket

        with fake_glpi(settings, port, name) as first:
            assert f"connector {name!r} created" in first and f"http://127.0.0.1:{port}/apirest.php/" in first
            await pushed("Printer jams")  # GLPI ticket 1 of the first fake
        with fake_glpi(settings, port, name) as second:  # a new, empty fake: its ticket 1 is another ticket
            assert f"connector {name!r} replaced (the fake starts empty)" in second
            rows = await (await conn.execute("SELECT id, user_token_encrypted FROM sync_connectors WHERE name = %s",
                                             (name,))).fetchall()
            assert len(rows) == 1
            ticket = await pushed("VPN drops every hour")
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}/apirest.php/") as glpi:
                login = _tokens(second)
                session = (await glpi.get("initSession", headers=login)).json()["session_token"]
                headers = {"App-Token": login["App-Token"], "Session-Token": session}
                found = (await glpi.get("Ticket", headers=headers,
                                        params={"searchText[externalid]": ticket.number})).json()
                assert [t["name"] for t in found] == ["VPN drops every hour"]
                added = await glpi.post(f"Ticket/{found[0]['id']}/ITILFollowup", headers=headers,
                                        json={"input": {"content": "Please update the VPN client"}})
                assert added.status_code == 201
            polled = await engine.poll(conn, connector_id=rows[0]["id"], settings=work)
            assert polled.comments == 1, polled
            comments = await (await conn.execute("SELECT body, internal FROM ticket_comments WHERE ticket_id = %s",
                                                 (ticket.id,))).fetchall()
            assert [(c["body"], c["internal"]) for c in comments] == [("Please update the VPN client", False)]
    finally:
        await conn.execute("DELETE FROM sync_connectors WHERE name = %s", (name,))
