"""A fake SAP Solution Manager (SAP Gateway, OData V2) for incidents, built from ../shared/specs/solman.md.

Real HTTP on 127.0.0.1, so the real client (httpx) runs against it:

- Auth: HTTP Basic (``user``/``password``) or a Bearer token from ``POST /sap/bc/sec/oauth2/token``
  (client credentials); anything else → 401 with the V2 error envelope.
- ``sap-client``: when given it must be the fake's client (else 401, as a logon to a client that does not exist).
- CSRF (spec B): ``GET <service>/`` with ``X-CSRF-Token: Fetch`` → 200, ``x-csrf-token`` and a
  ``SAP_SESSIONID_FAK_<client>`` cookie; every POST / MERGE / PUT / PATCH / DELETE needs that token **and** that
  cookie, else 403 with ``x-csrf-token: Required`` and the text "CSRF token validation failed".
  ``expire_sessions()`` drops every session (the next change gets the 403).
- ``POST <create service>/IncidentSet`` with the documented A1 properties → 201 + ``Location`` + ``{"d": …}``
  (``ObjectId``, ``Guid``, ``StatusCode`` E0001, ``ChangedAt`` as ``/Date(ms)/``); ``ProcessType`` and
  ``Description`` are required, and ``CategoryId`` needs ``CategoryAspectId`` and ``CategoryCatalogType``
  (400, error envelope ``CRM_ORDER/…``); a ``Priority`` outside the customizing (``priorities``) → 400 on create
  and on MERGE.
- ``GET <read service>/IncidentSet('<id>')``, ``GET …/IncidentSet?$filter=ChangedAt gt datetime'…'&$orderby=
  ChangedAt asc&$top=N`` with server-driven paging (``__next`` with ``$skiptoken``), ``$inlinecount=allpages``;
  ``MERGE …/IncidentSet('<id>')`` → 204; ``POST …/TextSet`` and ``GET …/TextSet?$filter=ObjectId eq '…'``.
- ``fail_next(status, times)`` answers errors (e.g. 500, 503) before normal answers; ``recover()`` stops that.

Run standalone: ``PYTHONPATH=tests python -m fakes.solman_server --port 8082``.
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from fakes.serving import FakeHTTPServer, LoopbackServer

CREATE_SERVICE = "/sap/opu/odata/sap/AI_CRM_GW_CREATE_INCIDENT_SRV"
READ_SERVICE = "/sap/opu/odata/sap/AI_CRM_GW_MYMESSAGE_SRV"
TOKEN_PATH = "/sap/bc/sec/oauth2/token"
MODIFYING = {"POST", "PUT", "PATCH", "MERGE", "DELETE"}
ENTITY = re.compile(r"^(IncidentSet|TextSet)(?:\('((?:[^']|'')*)'\))?$")
FILTER_CHANGED = re.compile(r"^ChangedAt gt datetime'(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)'$")
FILTER_KEY = re.compile(r"^ObjectId eq '((?:[^']|'')*)'$")


def v2_date(at: datetime) -> str:
    return f"/Date({int(at.timestamp() * 1000)})/"


@dataclass
class FakeSolman:
    user: str = "DESKMATE_RFC"
    password: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    client_id: str = "deskmate"
    client_secret: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    sap_client: str = "100"
    page_size: int = 50  # the server's own page limit (a smaller $top wins)
    priorities: frozenset[str] = frozenset({"1", "2", "3", "4"})  # the priority codes of the customizing
    incidents: dict[str, dict[str, Any]] = field(default_factory=dict)
    texts: list[dict[str, Any]] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)
    csrf_fetches: int = 0
    _sessions: dict[str, str] = field(default_factory=dict)  # session cookie → CSRF token
    _bearers: dict[str, float] = field(default_factory=dict)
    _failures: list[int] = field(default_factory=list)
    _next_id: int = 8000000100
    lock: threading.Lock = field(default_factory=threading.Lock)

    def expire_sessions(self) -> None:
        with self.lock:
            self._sessions.clear()

    def fail_next(self, status: int, times: int = 1) -> None:
        with self.lock:
            self._failures.extend([status] * times)

    def recover(self) -> None:
        """Answers normally again (drops the failures ``fail_next`` left)."""
        with self.lock:
            self._failures.clear()

    def change(self, object_id: str, **fields: Any) -> None:
        """An agent's change in SolMan (status, priority…): ``ChangedAt`` moves."""
        with self.lock:
            self.incidents[object_id] |= fields | {"_changed": datetime.now(UTC)}

    # ---- helpers the handler uses (under the lock) ----

    def new_incident(self, body: dict[str, Any]) -> dict[str, Any]:
        self._next_id += 1
        object_id = str(self._next_id)
        incident = {"ObjectId": object_id, "Guid": str(uuid.uuid4()).upper().replace("-", ""),
                    "StatusCode": "E0001", "Priority": body.get("Priority") or "3", **body,
                    "_changed": datetime.now(UTC)}
        self.incidents[object_id] = incident
        return incident


def public(entity: dict[str, Any], uri: str) -> dict[str, Any]:
    out = {k: v for k, v in entity.items() if not k.startswith("_")}
    if "_changed" in entity:
        out["ChangedAt"] = v2_date(entity["_changed"])
    return out | {"__metadata": {"uri": uri, "type": "AI_CRM_GW.Incident"}}


class _Handler(BaseHTTPRequestHandler):
    server: FakeHTTPServer

    def log_message(self, *args: object) -> None:
        pass

    # ---- answers ----

    def _send(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        data = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json" if not isinstance(body, bytes) else "text/plain")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, code: str, text: str, headers: dict[str, str] | None = None) -> None:
        self._send(status, {"error": {"code": code, "message": {"lang": "en", "value": text}, "innererror": {
            "transactionid": uuid.uuid4().hex.upper(), "timestamp": datetime.now(UTC).strftime("%Y%m%d%H%M%S"),
            "errordetails": [{"code": code, "message": text, "severity": "error"}]}}}, headers)

    # ---- checks ----

    def _authenticated(self) -> bool:
        fake, header = self.server.fake, self.headers.get("Authorization", "")
        if header.startswith("Basic "):
            try:
                user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            except ValueError:
                return False
            return (user, password) == (fake.user, fake.password)
        if header.startswith("Bearer "):
            return fake._bearers.get(header[7:], 0) > time.monotonic()
        return False

    def _csrf_ok(self) -> bool:
        fake, token = self.server.fake, self.headers.get("X-CSRF-Token", "")
        cookies = dict(c.strip().split("=", 1) for c in self.headers.get("Cookie", "").split(";") if "=" in c)
        session = cookies.get(f"SAP_SESSIONID_FAK_{fake.sap_client}")
        return bool(session) and fake._sessions.get(session) == token

    # ---- routing ----

    def _handle(self, method: str) -> None:
        fake = self.server.fake
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        with fake.lock:
            fake.requests.append((method, url.path))
            if fake._failures:
                return self._error(fake._failures.pop(0), "/IWFND/CM_BEC/026", "Backend system unavailable")
            if url.path == TOKEN_PATH and method == "POST":
                return self._token(raw)
            if query.get("sap-client", fake.sap_client) != fake.sap_client:
                return self._error(401, "/IWFND/CM_CONSUMER/101", "Logon failed: client does not exist")
            if not self._authenticated():
                return self._error(401, "/IWFND/CM_CONSUMER/101", "Logon failed", {"WWW-Authenticate": 'Basic realm="SAP"'})
            service = next((s for s in (CREATE_SERVICE, READ_SERVICE) if url.path.startswith(s)), None)
            if service is None:
                return self._error(404, "/IWFND/MED/170", f"No service found for namespace, name {url.path}")
            rest = url.path[len(service):].strip("/")
            if method == "GET" and rest in ("", "$metadata"):
                return self._service_document(service)
            if method in MODIFYING and not self._csrf_ok():
                return self._send(403, b"CSRF token validation failed", {"x-csrf-token": "Required"})
            body = json.loads(raw or b"{}") if raw else {}
            return self._entity(method, service, rest, query, body)

    def _token(self, raw: bytes) -> None:
        fake = self.server.fake
        form = {k: v[-1] for k, v in parse_qs(raw.decode()).items()}
        if form.get("grant_type") != "client_credentials" or \
                (form.get("client_id"), form.get("client_secret")) != (fake.client_id, fake.client_secret):
            return self._send(401, {"error": "invalid_client", "error_description": "Client authentication failed"})
        token = secrets.token_urlsafe(24)
        fake._bearers[token] = time.monotonic() + 3600
        return self._send(200, {"access_token": token, "token_type": "Bearer", "expires_in": 3600})

    def _service_document(self, service: str) -> None:
        fake, headers = self.server.fake, {}
        if self.headers.get("X-CSRF-Token", "").lower() == "fetch":
            fake.csrf_fetches += 1
            session, token = secrets.token_hex(16), secrets.token_urlsafe(16)
            fake._sessions[session] = token
            headers = {"x-csrf-token": token,
                       "Set-Cookie": f"SAP_SESSIONID_FAK_{fake.sap_client}={session}; path=/; HttpOnly"}
        self._send(200, {"d": {"EntitySets": ["IncidentSet", "TextSet"]}}, headers)

    def _entity(self, method: str, service: str, rest: str, query: dict[str, str], body: dict[str, Any]) -> None:
        fake = self.server.fake
        match = ENTITY.match(rest)
        if not match:
            return self._error(404, "/IWFND/MED/170", f"Resource not found for segment '{rest}'")
        entity_set, key = match.group(1), (match.group(2) or "").replace("''", "'") or None
        base = f"http://{self.headers.get('Host')}{service}"
        if entity_set == "IncidentSet" and key is None and method == "POST":
            if service != CREATE_SERVICE:
                return self._error(405, "/IWFND/MED/089", "Method not allowed on this service")
            return self._create(body, base)
        if entity_set == "IncidentSet" and key is not None:
            incident = fake.incidents.get(key)
            if incident is None:
                return self._error(404, "CRM_ORDER/010", f"Transaction {key} does not exist")
            if method == "GET":
                return self._send(200, {"d": public(incident, f"{base}/IncidentSet('{key}')")})
            if method in ("MERGE", "PATCH"):
                if "Priority" in body and body["Priority"] not in fake.priorities:
                    return self._unknown_priority(body["Priority"])
                incident |= {k: v for k, v in body.items() if k not in ("ObjectId", "Guid", "__metadata")}
                incident["_changed"] = datetime.now(UTC)
                return self._send(204)
        if entity_set == "IncidentSet" and method == "GET":
            return self._list(base, query)
        if entity_set == "TextSet" and method == "POST":
            if body.get("ObjectId") not in fake.incidents or not str(body.get("Text") or "").strip():
                return self._error(400, "CRM_ORDER/201", "Text or transaction missing")
            text = {"TextId": str(len(fake.texts) + 1), "ObjectId": body["ObjectId"],
                    "TextType": body.get("TextType") or "SU99", "Text": body["Text"]}
            fake.texts.append(text)
            fake.incidents[body["ObjectId"]]["_changed"] = datetime.now(UTC)
            return self._send(201, {"d": text})
        if entity_set == "TextSet" and method == "GET":
            wanted = FILTER_KEY.match(query.get("$filter", ""))
            key = wanted.group(1).replace("''", "'") if wanted else None
            return self._send(200, {"d": {"results": [t for t in fake.texts if key is None or t["ObjectId"] == key]}})
        return self._error(405, "/IWFND/MED/089", f"{method} is not allowed on {rest}")

    def _create(self, body: dict[str, Any], base: str) -> None:
        fake = self.server.fake
        if not body.get("ProcessType"):
            return self._error(400, "CRM_ORDER/002", "Transaction type is missing")
        if not str(body.get("Description") or "").strip():
            return self._error(400, "CRM_ORDER/018", "Enter a short text (Description)")
        if body.get("CategoryId") and not (body.get("CategoryAspectId") and body.get("CategoryCatalogType")):
            return self._error(400, "CRM_CATEGORY/004", "CategoryAspectId and CategoryCatalogType are required "
                                                       "with CategoryId")
        if body.get("Priority") and body["Priority"] not in fake.priorities:
            return self._unknown_priority(body["Priority"])
        incident = fake.new_incident(body)
        uri = f"{base}/IncidentSet('{incident['ObjectId']}')"
        return self._send(201, {"d": public(incident, uri)}, {"Location": uri})

    def _unknown_priority(self, priority: Any) -> None:
        return self._error(400, "CRM_ORDER/126", f"Priority {priority} is not defined for transaction type")

    def _list(self, base: str, query: dict[str, str]) -> None:
        fake = self.server.fake
        rows = sorted(fake.incidents.values(), key=lambda i: (i["_changed"], i["ObjectId"]))
        if "$filter" in query:
            changed = FILTER_CHANGED.match(query["$filter"])
            if not changed:
                return self._error(400, "/IWFND/MED/172", f"Invalid filter expression: '{query['$filter']}'")
            since = datetime.fromisoformat(changed.group(1)).replace(tzinfo=UTC)
            rows = [r for r in rows if r["_changed"].replace(microsecond=0) > since]
        skip = int(query.get("$skiptoken") or 0)
        top = min(int(query.get("$top") or fake.page_size), fake.page_size)
        page = rows[skip:skip + top]
        d: dict[str, Any] = {"results": [public(r, f"{base}/IncidentSet('{r['ObjectId']}')") for r in page]}
        if query.get("$inlinecount") == "allpages":
            d["__count"] = str(len(rows))
        if skip + top < len(rows):
            kept = {k: v for k, v in query.items() if k != "$skiptoken"} | {"$skiptoken": str(skip + top)}
            d["__next"] = f"{base}/IncidentSet?" + "&".join(f"{quote(k)}={quote(v)}" for k, v in kept.items())
        return self._send(200, {"d": d})

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._handle("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._handle("POST")

    def do_MERGE(self) -> None:  # noqa: N802
        self._handle("MERGE")

    def do_PATCH(self) -> None:  # noqa: N802
        self._handle("PATCH")

    def do_DELETE(self) -> None:  # noqa: N802
        self._handle("DELETE")


class FakeSolmanServer(LoopbackServer[FakeSolman]):
    """Runs a FakeSolman on 127.0.0.1 in a thread: ``with FakeSolmanServer() as server: server.url``."""

    def __init__(self, fake: FakeSolman | None = None, port: int = 0) -> None:
        super().__init__(fake or FakeSolman(), _Handler, port=port, name="fake-solman")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=8082)
    args = parser.parse_args()
    with FakeSolmanServer(port=args.port) as server:
        print(f"fake SolMan on {server.url}; user {server.fake.user}, password {server.fake.password}, "
              f"client {server.fake.sap_client}")
        threading.Event().wait()


if __name__ == "__main__":
    main()
