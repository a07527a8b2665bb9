"""A fake GLPI legacy REST API (``/apirest.php``), built from ../shared/specs/glpi.md.

Real HTTP on 127.0.0.1 (a threaded server), so deskmate's real client runs against it.

- ``initSession`` with ``Authorization: user_token …`` (+ ``App-Token`` when the fake has one) → a session
  token; ``killSession``. Every other call needs ``Session-Token``: missing → 400
  ``ERROR_SESSION_TOKEN_MISSING``, unknown or expired → 401 ``ERROR_SESSION_TOKEN_INVALID``.
  ``expire_sessions()`` forgets every session (the client must log in again).
- ``Ticket`` (list, get, POST ``{"input": …}`` → 201 ``{"id"}``, PUT → 200 ``[{"<id>": true, "message": ""}]``),
  ``Ticket/:id/ITILFollowup`` and ``Ticket/:id/ITILSolution`` (list and add; adding updates the ticket's
  ``date_mod``; a solution makes the ticket solved, status 5).
- Lists: ``range=start-end`` (default 0-49), ``Content-Range: start-end/total``, 200 when everything fits
  else 206, start beyond the total → 400 ``ERROR_RANGE_EXCEED_TOTAL``; ``sort=<field>&order=ASC|DESC``
  (a field name; another → 400); ``searchText[field]=text`` (contains, case-insensitive).
- Errors are ``[CODE, message]`` arrays. A GET with a body → 400 ``ERROR_JSON_PAYLOAD_FORBIDDEN``.
- Dates (``date``, ``date_mod``, ``date_creation``) are naive local time ``YYYY-MM-DD HH:MM:SS``; the fake's
  clock never gives two changes the same second (real GLPI may: the sync re-reads an overlap window).
- Switches: ``stop()`` / ``start()`` (stop listening: connection refused; start again on the same port),
  ``failing = 500`` (answer every call with that status), ``slow_s`` (answer late),
  ``refuse_create(word, status, code, message)`` (refuse to create tickets whose name contains ``word``).
- ``latency_s``: simulated network and server time added to every answer (benchmarks). ``busy_s`` sums the time
  the fake spent answering (its latency included), so a benchmark can tell the fake's share from deskmate's.
- Users, e-mails, groups and ticket actors (``UserEmail``, ``User/:id/UserEmail``, ``Ticket/:id/Ticket_User`` and
  ``Group_Ticket``; ``_users_id_*`` / ``_groups_id_assign`` on create): ``people`` (api/dev/fake_glpi_people.py).
- Outgoing webhooks (GLPI 11): ``webhooks.append(FakeWebhook(url, secret))``; changes queue signed deliveries
  (``take_webhooks()``), or hand them to ``send_webhook`` at once (api/dev/fake_glpi_webhooks.py).
- ``echo``: called with one line when a ticket, follow-up or solution is added (``deskmate dev fake-glpi``).

The same server serves the High-Level API (``/api.php/v2``, OAuth2) on the same tickets: api/dev/fake_glpi_hl.py.

``deskmate dev fake-glpi`` serves it with a demo connector (docs/integrations/glpi.md#try-it-without-a-glpi);
the tests import it as ``tests/fakes/glpi_server.py``. Standalone: ``python -m api.dev.fake_glpi --port 8082``.
"""

from __future__ import annotations

import argparse
import json
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from api.dev import fake_glpi_hl
from api.dev import fake_glpi_webhooks as outgoing
from api.dev.fake_glpi_hl import FakeHl
from api.dev.fake_glpi_people import FakePeople
from api.dev.fake_glpi_webhooks import Delivery, FakeWebhook

BASE = "/apirest.php"
DATE = "%Y-%m-%d %H:%M:%S"
ITEMTYPES = ("Ticket", "ITILFollowup", "ITILSolution")
_RANGE = re.compile(r"^(\d+)-(\d+)$")


class GlpiFail(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class Sent:
    """One request the fake received."""

    method: str
    path: str
    body: bytes


@dataclass
class FakeGlpi:
    """GLPI's state: users (user_token → login), the app token, sessions, tickets and their children."""

    app_token: str | None = field(default_factory=lambda: secrets.token_hex(20))
    users: dict[str, str] = field(default_factory=lambda: {secrets.token_hex(20): "deskmate"})
    sessions: set[str] = field(default_factory=set)
    tickets: dict[int, dict[str, Any]] = field(default_factory=dict)
    followups: dict[int, dict[str, Any]] = field(default_factory=dict)
    solutions: dict[int, dict[str, Any]] = field(default_factory=dict)
    requests: list[Sent] = field(default_factory=list)
    refused: dict[str, tuple[int, str, str]] = field(default_factory=dict)
    failing: int | None = None
    slow_s: float = 0.0
    latency_s: float = 0.0
    busy_s: float = 0.0
    echo: Callable[[str], None] | None = None
    webhooks: list[FakeWebhook] = field(default_factory=list)  # api/dev/fake_glpi_webhooks.py
    queued_webhooks: list[Delivery] = field(default_factory=list)
    send_webhook: Callable[[Delivery], Any] | None = None
    people: FakePeople = field(default_factory=FakePeople)  # api/dev/fake_glpi_people.py
    logins: int = 0
    hl: FakeHl = field(default_factory=FakeHl)  # the High-Level API's OAuth clients, users and tokens
    lock: threading.RLock = field(default_factory=threading.RLock)
    _next_id: int = 0
    _last_tick: datetime | None = None

    @property
    def user_token(self) -> str:
        return next(iter(self.users))

    def now(self) -> str:
        """Local naive time, strictly later than the last change."""
        with self.lock:
            now = datetime.now().replace(microsecond=0)
            if self._last_tick is not None and now <= self._last_tick:
                now = self._last_tick + timedelta(seconds=1)
            self._last_tick = now
            return now.strftime(DATE)

    def _id(self) -> int:
        self._next_id += 1
        return self._next_id

    # ---------------------------------------------------------------- what tests do "in GLPI"
    def expire_sessions(self) -> None:
        with self.lock:
            self.sessions.clear()

    def refuse_create(self, word: str, status: int = 403, code: str = "ERROR_RIGHT_MISSING",
                      message: str = "You don't have permission to perform this action.") -> None:
        self.refused[word] = (status, code, message)

    def add_ticket(self, **fields: Any) -> dict[str, Any]:
        with self.lock:
            ticket_id, now = self._id(), self.now()
            ticket = {"id": ticket_id, "entities_id": 0, "name": "", "content": "", "type": 1, "status": 1,
                      "urgency": 3, "impact": 3, "priority": 3, "itilcategories_id": 0, "externalid": "",
                      "date": now, "date_creation": now, "date_mod": now, "is_deleted": 0, **fields}
            self.tickets[ticket_id] = ticket
        self._say(f"ticket {ticket_id} added: {ticket['name']}")
        self._raise("new", "Ticket", ticket)
        return dict(ticket)

    def edit_ticket(self, ticket_id: int, **fields: Any) -> dict[str, Any]:
        with self.lock:
            ticket = self.tickets[ticket_id]
            ticket.update(fields, date_mod=self.now())
        self._raise("update", "Ticket", ticket)
        return dict(ticket)

    def add_child(self, store: dict[int, dict[str, Any]], ticket_id: int, **fields: Any) -> dict[str, Any]:
        with self.lock:
            now = self.now()
            row = {"id": self._id(), "itemtype": "Ticket", "items_id": ticket_id, "content": "", "is_private": 0,
                   "date": now, "date_creation": now, "date_mod": now, **fields}
            store[row["id"]] = row
            self.tickets[ticket_id]["date_mod"] = now
            if store is self.solutions:
                self.tickets[ticket_id]["status"] = 5
        kind = "solution" if store is self.solutions else "follow-up"
        self._say(f"ticket {ticket_id}: {kind} {row['id']} added: {str(row['content'])[:60]}")
        self._raise("new", "ITILSolution" if store is self.solutions else "ITILFollowup", row)
        return dict(row)

    def _raise(self, event: str, itemtype: str, row: dict[str, Any]) -> None:
        """GLPI's ``Webhook::raise``: a signed delivery per matching webhook, queued (or sent by ``send_webhook``)."""
        with self.lock:
            ticket = self.tickets.get(int(row["items_id"])) if itemtype != "Ticket" else None
            deliveries = [outgoing.build(hook, event=event, itemtype=itemtype, row=dict(row),
                                         ticket=dict(ticket) if ticket else None)
                          for hook in self.webhooks if itemtype in hook.itemtypes and event in hook.events]
            send = self.send_webhook
            if send is None:
                self.queued_webhooks.extend(deliveries)
        if send is not None:  # the dev sender posts from a thread: deskmate calls the fake back
            for delivery in deliveries:
                send(delivery)

    def take_webhooks(self) -> list[Delivery]:
        """The queued deliveries, oldest first (the queue is emptied)."""
        with self.lock:
            taken, self.queued_webhooks = self.queued_webhooks, []
        return taken

    def _say(self, line: str) -> None:
        if self.echo is not None:
            self.echo(line)

    def assign(self, ticket_id: int, *, user_id: int | None = None, group_id: int | None = None) -> dict[str, Any]:
        """Adds an assigned technician and/or group, as the ticket form does (the ticket's ``date_mod`` moves)."""
        with self.lock:
            for kind, ref in (("user", user_id), ("group", group_id)):
                if ref is not None:
                    self.people.add_actor(ticket_id, kind=kind, ref=ref, type_=2)
        return self.edit_ticket(ticket_id)

    def add_followup(self, ticket_id: int, content: str, *, private: bool = False) -> dict[str, Any]:
        return self.add_child(self.followups, ticket_id, content=content, is_private=int(private))

    # ---------------------------------------------------------------- the API
    def _auth(self, headers: Any, *, login: bool = False) -> None:
        if self.app_token is not None:
            given = headers.get("App-Token")
            if not given:
                raise GlpiFail(400, "ERROR_APP_TOKEN_PARAMETERS_MISSING", "missing parameter app_token")
            if given != self.app_token:
                raise GlpiFail(400, "ERROR_WRONG_APP_TOKEN_PARAMETER", "parameter app_token seems wrong")
        if login:
            return
        token = headers.get("Session-Token")
        if not token:
            raise GlpiFail(400, "ERROR_SESSION_TOKEN_MISSING", "parameter session_token is missing or empty")
        if token not in self.sessions:
            raise GlpiFail(401, "ERROR_SESSION_TOKEN_INVALID", "session_token seems invalid")

    def handle(self, method: str, path: str, query: dict[str, list[str]], headers: Any,
               body: bytes) -> tuple[int, Any, dict[str, str]]:
        with self.lock:
            self.requests.append(Sent(method, path, body))
        if method == "GET" and body:
            raise GlpiFail(400, "ERROR_JSON_PAYLOAD_FORBIDDEN", "GET Request should not have json payload (http body)")
        parts = [p for p in path.removeprefix(BASE).split("/") if p]
        if parts == ["initSession"] and method == "GET":
            return self._init_session(headers)
        self._auth(headers)
        if parts == ["killSession"] and method == "GET":
            with self.lock:
                self.sessions.discard(headers.get("Session-Token"))
            return 200, True, {}
        data = self._payload(body) if method in ("POST", "PUT") else None
        with self.lock:
            return self._route(method, parts, query, data)

    def _init_session(self, headers: Any) -> tuple[int, Any, dict[str, str]]:
        self._auth(headers, login=True)
        auth = headers.get("Authorization", "")
        if not auth.startswith("user_token "):
            raise GlpiFail(400, "ERROR_LOGIN_PARAMETERS_MISSING", "parameter user_token seems missing")
        if auth.removeprefix("user_token ").strip() not in self.users:
            raise GlpiFail(401, "ERROR_GLPI_LOGIN_USER_TOKEN", "parameter user_token seems invalid")
        token = secrets.token_hex(20)
        with self.lock:
            self.sessions.add(token)
            self.logins += 1
        return 200, {"session_token": token}, {}

    @staticmethod
    def _payload(body: bytes) -> dict[str, Any]:
        try:
            data = json.loads(body or b"null")
        except ValueError as exc:
            raise GlpiFail(400, "ERROR_JSON_PAYLOAD_INVALID", "JSON payload seems not valid") from exc
        if not isinstance(data, dict) or not isinstance(data.get("input"), dict):
            raise GlpiFail(400, "ERROR_BAD_ARRAY", "input parameter must be an array of objects")
        return data["input"]  # type: ignore[no-any-return]

    def _route(self, method: str, parts: list[str], query: dict[str, list[str]],
               data: dict[str, Any] | None) -> tuple[int, Any, dict[str, str]]:
        if method == "GET" and (people := self.people.rows(parts, query)) is not None:
            if parts[0] == "Ticket":
                self._ticket(parts[1])
            return self._list(people, query, f"glpi_{parts[-1].lower()}s")
        if (written := self.people.write(method, parts, data, self.tickets)) is not None:
            return written
        if not parts or parts[0] not in ITEMTYPES or (len(parts) == 3 and parts[2] not in ITEMTYPES):
            raise GlpiFail(400, "ERROR_RESOURCE_NOT_FOUND_NOR_COMMONDBTM", "resource not found or not an instance of CommonDBTM")
        if parts[0] == "Ticket" and len(parts) == 1:
            if method == "GET":
                return self._list(list(self.tickets.values()), query, "glpi_tickets")
            if method == "POST":
                return self._create_ticket(data or {})
        elif parts[0] == "Ticket" and len(parts) == 2:
            ticket = self._ticket(parts[1])
            if method == "GET":
                return 200, dict(ticket), {}
            if method in ("PUT", "PATCH"):
                fields = {k: v for k, v in (data or {}).items() if k != "id"}
                self.edit_ticket(ticket["id"], **fields)
                return 200, [{str(ticket["id"]): True, "message": ""}], {}
        elif len(parts) in (1, 3):
            store = self.followups if (parts[-1] == "ITILFollowup") else self.solutions
            ticket_id = int((data or {}).get("items_id") or 0) if len(parts) == 1 else self._ticket(parts[1])["id"]
            if method == "GET":
                return self._list([r for r in store.values() if len(parts) == 1 or r["items_id"] == ticket_id], query,
                                  f"glpi_{parts[-1].lower()}s")
            if method == "POST":
                self._ticket(str(ticket_id))
                fields = {k: v for k, v in (data or {}).items() if k not in ("id", "itemtype", "items_id")}
                return 201, {"id": self.add_child(store, ticket_id, **fields)["id"], "message": ""}, {}
        raise GlpiFail(400, "ERROR_METHOD_NOT_ALLOWED", f"method {method} not allowed on /{'/'.join(parts)}")

    def _ticket(self, ref: str) -> dict[str, Any]:
        if not ref.isdigit() or int(ref) not in self.tickets:
            raise GlpiFail(404, "ERROR_ITEM_NOT_FOUND", "Item not found")
        return self.tickets[int(ref)]

    def _create_ticket(self, data: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        name = str(data.get("name", ""))
        for word, (status, code, message) in self.refused.items():
            if word in name:
                raise GlpiFail(status, code, message)
        if not name and not data.get("content"):
            raise GlpiFail(400, "ERROR_GLPI_ADD", "Title and description are mandatory")
        ticket = self.add_ticket(**{k: v for k, v in data.items() if k != "id" and not k.startswith("_")})
        self.people.actors_from_input(ticket["id"], data)
        return 201, {"id": ticket["id"], "message": ""}, {"Location": f"{BASE}/Ticket/{ticket['id']}"}

    @staticmethod
    def _list(rows: list[dict[str, Any]], query: dict[str, list[str]],
              table: str) -> tuple[int, Any, dict[str, str]]:
        for key, values in query.items():
            if match := re.fullmatch(r"searchText\[(\w+)\]", key):
                rows = [r for r in rows if values[0].lower() in str(r.get(match[1], "")).lower()]
        sort = query.get("sort", ["id"])[0]
        if rows and sort not in rows[0]:
            raise GlpiFail(400, "ERROR", f"sort param is not a field of {table}")
        rows = sorted(rows, key=lambda r: (r.get(sort), r["id"]), reverse=query.get("order", ["ASC"])[0] == "DESC")
        bounds = _RANGE.match(query.get("range", ["0-49"])[0])
        if bounds is None:
            raise GlpiFail(400, "ERROR_RANGE_EXCEED_TOTAL", "Provided range is not valid")
        start, end, total = int(bounds[1]), int(bounds[2]), len(rows)
        if total and start >= total:
            raise GlpiFail(400, "ERROR_RANGE_EXCEED_TOTAL", "Provided range exceed total count of data")
        page = [dict(r) for r in rows[start:end + 1]]
        last = start + len(page) - 1
        headers = {"Content-Range": f"{start}-{max(last, start)}/{total}", "Accept-Range": f"{table} 1000"}
        return (206 if last + 1 < total else 200), page, headers


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def _serve(self) -> None:
        fake = self.server.fake
        started = time.perf_counter()
        if fake.slow_s or fake.latency_s:
            time.sleep(fake.slow_s + fake.latency_s)  # the fake's latency, not a test's wait
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        url = urlsplit(self.path)
        hl = url.path.startswith(fake_glpi_hl.ROOT)
        try:
            if fake.failing:
                raise GlpiFail(fake.failing, "ERROR", "Internal Server Error")
            if hl:
                status, answer, headers = fake.hl.handle(fake, self.command, url.path, parse_qs(url.query),
                                                         self.headers, body)
            else:
                status, answer, headers = fake.handle(self.command, url.path, parse_qs(url.query), self.headers, body)
        except GlpiFail as fail:
            answer = fake_glpi_hl.error_body(fail.code, fail.message) if hl else [fail.code, fail.message]
            status, headers = fail.status, {}
        raw = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(raw)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(raw)
        with fake.lock:
            fake.busy_s += time.perf_counter() - started

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int, fake: FakeGlpi) -> None:
        self.fake = fake
        super().__init__(("127.0.0.1", port), _Handler)


class FakeGlpiServer:
    """The fake on a real port: ``with FakeGlpiServer() as glpi: glpi.url, glpi.fake``; ``stop()``/``start()``."""

    def __init__(self, fake: FakeGlpi | None = None, *, port: int = 0) -> None:
        self.fake = fake or FakeGlpi()
        self.port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{BASE}/"

    @property
    def hl_url(self) -> str:
        """The High-Level API's root (its token endpoint is ``/api.php/token``)."""
        return f"http://127.0.0.1:{self.port}{fake_glpi_hl.API}/"

    def start(self) -> None:
        self._server = _Server(self.port, self.fake)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stops listening: connecting is refused until ``start()``."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeGlpiServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8082)
    server = FakeGlpiServer(port=parser.parse_args().port)
    server.start()
    print(f"fake GLPI at {server.url}\nuser_token {server.fake.user_token}\napp_token {server.fake.app_token}", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
