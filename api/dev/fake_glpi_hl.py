"""The fake GLPI's High-Level API (``/api.php/v2`` and ``/api.php/token``), built from ../shared/specs/glpi.md §2.

Served by the same server as the legacy fake (api/dev/fake_glpi.py) and working on its tickets, follow-ups and
solutions: a ticket made through one API is seen through the other.

- ``POST /api.php/token`` (form-encoded): the password grant (``client_id``, ``client_secret``, ``username``,
  ``password``, ``scope``) and the refresh_token grant (the refresh token is used up: a new one comes with the
  new access token). OAuth error bodies ``{error, error_description, message}``: a wrong client or secret → 401
  ``invalid_client``; a wrong user or password, an unknown refresh token → 400 ``invalid_grant`` (RFC 6749
  §5.2; GLPI's OAuth server answers so — the status of these two is not in the spec).
- Every ``/api.php/v2/…`` call needs ``Authorization: Bearer <token>``: none, unknown, or expired → 401.
  ``expire_tokens()`` ends every access token (the refresh tokens still work); ``expires_in`` sets the life
  of the next tokens; ``grants`` lists the grant types asked for, in order.
- ``/Assistance/Ticket``: search with an RSQL ``filter`` (``==``, ``!=``, ``=gt=``, ``=ge=``, ``=lt=``,
  ``=le=``, ``=like=``; ``;`` for and), ``sort=prop:asc|desc,…``, ``start`` + ``limit``, 200 or 206 with
  ``Content-Range: start-end/total``; POST → 201, ``Location`` and ``{id, href}``; GET/PATCH (the item back)
  one ticket; ``/Timeline/Followup`` and ``/Timeline/Solution`` (list, add → 201).
- Tickets as the HL schema shows them: ``status`` and ``category`` ``{id, name}``, ``external_id``, dates ISO
  8601 with the local offset. Bodies name dropdowns by id (``"category": 12``).
- Errors ``{status, title, detail, additional_messages}``: 404 ``ERROR_ITEM_NOT_FOUND``, 400
  ``ERROR_INVALID_PARAMETER`` (a bad filter or sort), 403 for a refused create (``refuse_create``), and GLPI's
  500 ``ERROR`` "Failed to add item(s)" with the reason in ``additional_messages`` for a ticket without title
  and description. The code of the 401 (``ERROR_UNAUTHENTICATED`` here) is not in the spec.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

if TYPE_CHECKING:
    from api.dev.fake_glpi import FakeGlpi

ROOT = "/api.php"
API = f"{ROOT}/v2"
DATE = "%Y-%m-%d %H:%M:%S"
STATUS_NAMES = {1: "New", 2: "Processing (assigned)", 3: "Processing (planned)", 4: "Pending", 5: "Solved",
                6: "Closed"}
_RSQL = re.compile(r"^([\w.]+)(==|!=|=gt=|=ge=|=lt=|=le=|=like=)(\"(?:[^\"\\]|\\.)*\"|[^;]*)$")
_INPUT = {"name": "name", "content": "content", "type": "type", "urgency": "urgency", "impact": "impact",
          "priority": "priority", "status": "status", "category": "itilcategories_id", "entity": "entities_id",
          "external_id": "externalid"}
Answer = tuple[int, Any, dict[str, str]]


class HlFail(Exception):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(str(body))
        self.status, self.body = status, body


def error_body(code: str, title: str, detail: str | None = None, notes: list[str] | None = None) -> dict[str, Any]:
    """The HL API's error object (AbstractController::getErrorResponseBody)."""
    body: dict[str, Any] = {"status": code, "title": title, "detail": detail}
    if notes:
        body["additional_messages"] = [{"priority": "error", "message": note} for note in notes]
    return body


def _oauth_error(status: int, error: str, text: str) -> HlFail:
    return HlFail(status, {"error": error, "error_description": text, "message": text})


def _iso(value: Any) -> str | None:
    return datetime.strptime(value, DATE).astimezone().isoformat() if value else None


def _dropdown(value: int, name: str) -> dict[str, Any] | None:
    return {"id": value, "name": name} if value else None


def ticket_view(row: dict[str, Any]) -> dict[str, Any]:
    """A stored ticket as the HL Ticket schema shows it."""
    return {"id": row["id"], "name": row["name"], "content": row["content"], "is_deleted": bool(row["is_deleted"]),
            "type": row["type"], "urgency": row["urgency"], "impact": row["impact"], "priority": row["priority"],
            "status": {"id": row["status"], "name": STATUS_NAMES.get(row["status"], "")},
            "category": _dropdown(row["itilcategories_id"], f"Category {row['itilcategories_id']}"),
            "entity": {"id": row["entities_id"], "name": "Root entity", "completename": "Root entity"},
            "external_id": row["externalid"], "date": _iso(row["date"]),
            "date_creation": _iso(row["date_creation"]), "date_mod": _iso(row["date_mod"])}


def child_view(row: dict[str, Any]) -> dict[str, Any]:
    """A stored follow-up or solution as the HL timeline shows it."""
    return {"id": row["id"], "itemtype": row["itemtype"], "items_id": row["items_id"], "content": row["content"],
            "is_private": bool(row.get("is_private")), "date_creation": _iso(row["date_creation"]),
            "date_mod": _iso(row["date_mod"])}


def _flat(view: dict[str, Any], prop: str) -> Any:
    value: Any = view
    for part in prop.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


@dataclass
class FakeHl:
    """The HL API's OAuth state: clients, users, tokens (the tickets are the legacy fake's)."""

    clients: dict[str, str] = field(default_factory=lambda: {secrets.token_hex(10): secrets.token_hex(20)})
    passwords: dict[str, str] = field(default_factory=lambda: {"deskmate": secrets.token_urlsafe(12)})
    expires_in: int = 3600
    tokens: dict[str, float] = field(default_factory=dict)
    refresh_tokens: set[str] = field(default_factory=set)
    grants: list[str] = field(default_factory=list)

    @property
    def client_id(self) -> str:
        return next(iter(self.clients))

    @property
    def username(self) -> str:
        return next(iter(self.passwords))

    def expire_tokens(self) -> None:
        self.tokens.clear()

    # ---------------------------------------------------------------- the API
    def handle(self, fake: FakeGlpi, method: str, path: str, query: dict[str, list[str]], headers: Any,
               body: bytes) -> Answer:
        """One call: (status, JSON answer, headers); an HL or OAuth error body when it fails."""
        from api.dev.fake_glpi import Sent  # here: fake_glpi imports this module

        with fake.lock:
            fake.requests.append(Sent(method, path, body))
        try:
            if path.rstrip("/") == f"{ROOT}/token" and method == "POST":
                with fake.lock:
                    return self._token(parse_qs(body.decode()))
            self._auth(headers)
            parts = [p for p in re.sub(r"^/api\.php/v2(\.\d+)?", "", path).split("/") if p]
            with fake.lock:
                return self._route(fake, method, parts, query, self._json(body) if method in ("POST", "PATCH") else {})
        except HlFail as fail:
            return fail.status, fail.body, {}

    def _token(self, form: dict[str, list[str]]) -> Answer:
        given = {k: v[0] for k, v in form.items()}
        grant = given.get("grant_type", "")
        self.grants.append(grant)
        client = given.get("client_id", "")
        if client not in self.clients or self.clients[client] != given.get("client_secret"):
            raise _oauth_error(401, "invalid_client", "Client authentication failed")
        if grant == "password":
            if self.passwords.get(given.get("username", "")) != given.get("password") or not given.get("password"):
                raise _oauth_error(400, "invalid_grant", "The user credentials were incorrect.")
        elif grant == "refresh_token":
            if given.get("refresh_token") not in self.refresh_tokens:
                raise _oauth_error(400, "invalid_grant", "The refresh token is invalid.")
            self.refresh_tokens.discard(given["refresh_token"])
        else:
            raise _oauth_error(400, "unsupported_grant_type", "The authorization grant type is not supported.")
        access, refresh = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        self.tokens[access] = time.monotonic() + self.expires_in
        self.refresh_tokens.add(refresh)
        return 200, {"token_type": "Bearer", "expires_in": self.expires_in, "access_token": access,
                     "refresh_token": refresh}, {"Cache-Control": "no-store"}

    def _auth(self, headers: Any) -> None:
        token = str(headers.get("Authorization") or "").removeprefix("Bearer ").strip()
        if self.tokens.get(token, 0.0) <= time.monotonic():
            raise HlFail(401, error_body("ERROR_UNAUTHENTICATED", "You are not authenticated"))

    @staticmethod
    def _json(body: bytes) -> dict[str, Any]:
        try:
            data = json.loads(body or b"{}")
        except ValueError as exc:
            raise HlFail(400, error_body("ERROR_INVALID_PARAMETER", "Invalid JSON body")) from exc
        if not isinstance(data, dict):
            raise HlFail(400, error_body("ERROR_INVALID_PARAMETER", "The body must be an object"))
        return data

    def _route(self, fake: FakeGlpi, method: str, parts: list[str], query: dict[str, list[str]],
               data: dict[str, Any]) -> Answer:
        if parts[:2] != ["Assistance", "Ticket"]:
            raise HlFail(404, error_body("ERROR_ITEM_NOT_FOUND", "Not found"))
        if len(parts) == 2 and method == "GET":
            return self._search([ticket_view(t) for t in fake.tickets.values()], query)
        if len(parts) == 2 and method == "POST":
            return self._create(fake, data)
        ticket = self._ticket(fake, parts[2])
        if len(parts) == 3 and method == "GET":
            return 200, ticket_view(ticket), {}
        if len(parts) == 3 and method == "PATCH":
            fake.edit_ticket(ticket["id"], **self._input(data))
            return 200, ticket_view(fake.tickets[ticket["id"]]), {}
        if len(parts) == 5 and parts[3] == "Timeline" and parts[4] in ("Followup", "Solution"):
            store = fake.followups if parts[4] == "Followup" else fake.solutions
            if method == "GET":
                return 200, [child_view(r) for r in store.values() if r["items_id"] == ticket["id"]], {}
            if method == "POST":
                row = fake.add_child(store, ticket["id"], content=str(data.get("content") or ""),
                                     is_private=int(bool(data.get("is_private"))))
                href = f"{API}/Assistance/Ticket/{ticket['id']}/Timeline/{parts[4]}/{row['id']}"
                return 201, {"id": row["id"], "href": href}, {"Location": href}
        raise HlFail(405, error_body("ERROR_METHOD_NOT_ALLOWED", f"Method {method} not allowed"))

    @staticmethod
    def _ticket(fake: FakeGlpi, ref: str) -> dict[str, Any]:
        if not ref.isdigit() or int(ref) not in fake.tickets:
            raise HlFail(404, error_body("ERROR_ITEM_NOT_FOUND", "Not found"))
        return fake.tickets[int(ref)]

    @staticmethod
    def _input(data: dict[str, Any]) -> dict[str, Any]:
        """An HL body as stored fields (dropdowns by id or ``{id}``); properties the schema lacks are ignored."""
        return {_INPUT[k]: (v.get("id") if isinstance(v, dict) else v) for k, v in data.items() if k in _INPUT}

    def _create(self, fake: FakeGlpi, data: dict[str, Any]) -> Answer:
        fields = self._input(data)
        name = str(fields.get("name", ""))
        for word, (status, code, message) in fake.refused.items():
            if word in name:
                raise HlFail(status, error_body(code, message))
        if not name and not fields.get("content"):
            raise HlFail(500, error_body("ERROR", "Failed to add item(s)", None,
                                         ["Title and description are mandatory"]))
        ticket = fake.add_ticket(**fields)
        href = f"{API}/Assistance/Ticket/{ticket['id']}"
        return 201, {"id": ticket["id"], "href": href}, {"Location": href}

    @staticmethod
    def _search(rows: list[dict[str, Any]], query: dict[str, list[str]]) -> Answer:
        for condition in (c for c in query.get("filter", [""])[0].split(";") if c):
            match = _RSQL.match(condition)
            if match is None:
                raise HlFail(400, error_body("ERROR_INVALID_PARAMETER", f"Invalid RSQL filter: {condition}"))
            prop, op, raw = match[1], match[2], match[3]
            value = re.sub(r"\\(.)", r"\1", raw[1:-1]) if raw.startswith('"') else raw
            rows = [r for r in rows if _matches(_flat(r, prop), op, value)]
        for key in reversed([s for s in query.get("sort", [""])[0].split(",") if s]):
            prop, _, direction = key.partition(":")
            if rows and _flat(rows[0], prop) is None and prop not in rows[0]:
                raise HlFail(400, error_body("ERROR_INVALID_PARAMETER", f"Invalid property for sorting: {prop}"))
            rows = sorted(rows, key=lambda r: _sort_key(r, prop), reverse=direction.lower() == "desc")
        start, total = int(query.get("start", ["0"])[0]), len(rows)
        limit = int(query.get("limit", [str(total)])[0])
        page = rows[start:start + limit]
        end = max(0, min(start + limit, total) - 1)
        return (206 if start + limit < total else 200), page, {"Content-Range": f"{start}-{end}/{total}"}


def _sort_key(row: dict[str, Any], prop: str) -> tuple[bool, Any, int]:
    value = _flat(row, prop)
    return value is not None, value if value is not None else 0, row["id"]


def _matches(have: Any, op: str, want: str) -> bool:
    text = "" if have is None else str(have)
    match op:
        case "==":
            return text == want
        case "!=":
            return text != want
        case "=like=":
            return want.replace("*", "").lower() in text.lower()
    compare = {"=gt=": text > want, "=ge=": text >= want, "=lt=": text < want, "=le=": text <= want}
    return compare[op]
