"""A fake of Twilio's Programmable Messaging API (Messages), built from ../shared/specs/twilio.md.

It speaks real HTTP on 127.0.0.1 so the real ``twilio`` SDK (requests underneath) runs against it;
point the SDK at it with ``client.api.base_url = fake.url`` (spec §5, option B).

- ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json``: HTTP Basic ``AccountSid:AuthToken``,
  ``application/x-www-form-urlencoded`` body with ``To``, ``From`` or ``MessagingServiceSid``, ``Body``
  or ``MediaUrl``; answers **201** with a Message resource (snake_case, RFC 2822 dates, string
  ``num_segments``), status ``queued``.
- ``GET …/Messages/{Sid}.json`` (fetch) and ``GET …/Messages.json`` (list: newest first, filters
  ``To``, ``From``, ``DateSent``/``DateSent<``/``DateSent>``, paged with ``PageSize``/``Page``/``PageToken``
  and ``next_page_uri``).
- Errors as legacy REST JSON ``{"code", "message", "more_info", "status"}``: 20003 (401, bad
  credentials), 20404 (404), 21604 (To missing), 21602 (Body missing), 21211 (To not E.164),
  21212/21606 (From not ours), 21617 (Body over 1600 characters), 20429 (429, scripted); Twilio's
  magic test numbers for ``To``: +15005550001 → 21211, +15005550002 → 21612, +15005550003 → 21408,
  +15005550004 → 21610, +15005550009 → 21614.
- ``fail_next(status, code, times)`` scripts errors (e.g. 429 / 20429 or 500) before normal answers.

Run standalone: ``PYTHONPATH=tests python -m fakes.twilio_server --port 8081``.
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import re
import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from fakes.serving import FakeHTTPServer, LoopbackServer

API = "/2010-04-01"
E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
MAGIC_TO = {"+15005550001": 21211, "+15005550002": 21612, "+15005550003": 21408, "+15005550004": 21610,
            "+15005550009": 21614}
MESSAGES = {
    20003: "Authenticate", 20404: "The requested resource {path} was not found", 20429: "Too Many Requests",
    21211: "The 'To' number {to} is not a valid phone number.", 21212: "The 'From' number {from_} is not a valid phone number, shortcode, or alphanumeric sender ID.",
    21408: "Permission to send an SMS has not been enabled for the region indicated by the 'To' number: {to}.",
    21602: "Message body is required.", 21604: "A 'To' phone number is required.",
    21606: "The 'From' phone number provided is not a valid message-capable Twilio phone number for this destination/account.",
    21610: "Attempt to send to unsubscribed recipient", 21612: "The 'To' phone number: {to}, is not currently reachable using the 'From' phone number: {from_} via SMS.",
    21614: "'To' number {to} is not a valid mobile number", 21617: "The concatenated message body exceeds the 1600 character limit.",
}
STATUS_OF = {20003: 401, 20404: 404, 20429: 429}
GSM7 = set("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿"
           "abcdefghijklmnopqrstuvwxyzäöñüà^{}\\[~]|€\f")


def segments(body: str) -> int:
    if all(ch in GSM7 for ch in body):
        length = len(body) + sum(ch in "^{}\\[~]|€\f" for ch in body)
        return 1 if length <= 160 else math.ceil(length / 153)
    units = len(body.encode("utf-16-le")) // 2
    return 1 if units <= 70 else math.ceil(units / 67)


@dataclass
class Message:
    sid: str
    to: str
    from_: str
    body: str
    created: datetime
    status: str = "queued"

    def resource(self, account_sid: str) -> dict[str, Any]:
        uri = f"{API}/Accounts/{account_sid}/Messages/{self.sid}.json"
        stamp = format_datetime(self.created)
        return {
            "sid": self.sid, "account_sid": account_sid, "messaging_service_sid": None, "from": self.from_,
            "to": self.to, "body": self.body, "status": self.status, "direction": "outbound-api",
            "num_segments": str(segments(self.body)), "num_media": "0", "price": None, "price_unit": "USD",
            "error_code": None, "error_message": None, "api_version": "2010-04-01", "date_created": stamp,
            "date_updated": stamp, "date_sent": None, "uri": uri,
            "subresource_uris": {"media": uri.replace(".json", "/Media.json"),
                                 "feedback": uri.replace(".json", "/Feedback.json")},
        }


@dataclass
class FakeTwilio:
    """The fake's state: the account, the numbers it may send from, messages, every request seen."""

    account_sid: str = "AC" + "0123456789abcdef" * 2
    auth_token: str = "test-auth-token"
    from_numbers: tuple[str, ...] = ("+15557654321",)
    messages: list[Message] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    scripted: list[tuple[int, int]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail_next(self, status: int, code: int, times: int = 1) -> None:
        with self.lock:
            self.scripted.extend([(status, code)] * times)

    @property
    def created(self) -> list[Message]:
        return list(self.messages)


def _error(code: int, status: int | None = None, **fmt: str) -> tuple[int, dict[str, Any]]:
    status = status or STATUS_OF.get(code, 400)
    message = MESSAGES.get(code, "Error").format(**({"to": "", "from_": "", "path": ""} | fmt))
    return status, {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}",
                    "status": status}


class Handler(BaseHTTPRequestHandler):
    server: FakeHTTPServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        pass

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _authorised(self) -> bool:
        fake = self.server.fake
        scheme, _, value = self.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(value).decode().partition(":")
        except ValueError:
            return False
        return secrets.compare_digest(user, fake.account_sid) and secrets.compare_digest(password, fake.auth_token)

    def _route(self) -> tuple[str, str | None] | None:
        path = urlsplit(self.path).path
        match = re.fullmatch(rf"{API}/Accounts/(AC\w+)/Messages(?:/(\w+))?\.json", path)
        return (match.group(1), match.group(2)) if match else None

    def _preflight(self, form: dict[str, list[str]]) -> tuple[str, str | None] | None:
        fake = self.server.fake
        with fake.lock:
            fake.requests.append({"method": self.command, "path": self.path, "form": form,
                                  "headers": dict(self.headers.items())})
        if not self._authorised():
            self._send(*_error(20003))
            return None
        route = self._route()
        if route is None or route[0] != fake.account_sid:
            self._send(*_error(20404, path=urlsplit(self.path).path))
            return None
        with fake.lock:
            scripted = fake.scripted.pop(0) if fake.scripted else None
        if scripted:
            self._send(*_error(scripted[1], scripted[0]))
            return None
        return route

    def do_POST(self) -> None:  # noqa: N802
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        form = parse_qs(raw, keep_blank_values=True)
        route = self._preflight(form)
        if route is None:
            return
        if route[1] is not None:
            self._send(*_error(20404, path=urlsplit(self.path).path))
            return
        if not self.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
            self._send(400, {"code": 20001, "message": "Body must be form-encoded", "more_info": "", "status": 400})
            return
        self._create({k: v[0] for k, v in form.items()})

    def _create(self, form: dict[str, str]) -> None:
        fake = self.server.fake
        to, from_, body = form.get("To", ""), form.get("From", ""), form.get("Body", "")
        if not to:
            return self._send(*_error(21604))
        if not from_ and not form.get("MessagingServiceSid"):
            return self._send(*_error(21212, from_=from_))
        if not body and not form.get("MediaUrl"):
            return self._send(*_error(21602))
        if not E164.match(to.removeprefix("whatsapp:")):
            return self._send(*_error(21211, to=to))
        if from_ and from_ not in fake.from_numbers:
            return self._send(*_error(21606, from_=from_))
        if to in MAGIC_TO:
            return self._send(*_error(MAGIC_TO[to], to=to, from_=from_))
        if len(body) > 1600:
            return self._send(*_error(21617))
        message = Message(sid="SM" + secrets.token_hex(16), to=to, from_=from_, body=body,
                          created=datetime.now(UTC).replace(microsecond=0))
        with fake.lock:
            fake.messages.append(message)
        self._send(201, message.resource(fake.account_sid))

    def do_GET(self) -> None:  # noqa: N802
        route = self._preflight({})
        if route is None:
            return
        fake, query = self.server.fake, parse_qs(urlsplit(self.path).query)
        if route[1] is not None:
            found = [m for m in fake.messages if m.sid == route[1]]
            if not found:
                return self._send(*_error(20404, path=urlsplit(self.path).path))
            return self._send(200, found[0].resource(fake.account_sid))
        self._list(query)

    def _list(self, query: dict[str, list[str]]) -> None:
        fake = self.server.fake
        one = {k: v[0] for k, v in query.items()}
        size = max(1, min(int(one.get("PageSize", "50")), 1000))
        page = int(one.get("Page", "0"))
        with fake.lock:
            items = [m for m in reversed(fake.messages)  # newest first
                     if one.get("To", m.to) == m.to and one.get("From", m.from_) == m.from_]
        chunk = items[page * size:(page + 1) * size]
        base = f"{API}/Accounts/{fake.account_sid}/Messages.json"
        keep = {k: v for k, v in one.items() if k not in ("Page", "PageToken")}

        def uri(n: int) -> str:
            return f"{base}?{urlencode(keep | {'Page': n, 'PageToken': f'PA{n}'})}"

        more = (page + 1) * size < len(items)
        self._send(200, {
            "messages": [m.resource(fake.account_sid) for m in chunk], "page": page, "page_size": size,
            "start": page * size, "end": page * size + max(len(chunk) - 1, 0), "uri": uri(page),
            "first_page_uri": uri(0), "next_page_uri": uri(page + 1) if more else None,
            "previous_page_uri": uri(page - 1) if page > 0 else None,
        })


class FakeTwilioServer(LoopbackServer[FakeTwilio]):
    """Runs a FakeTwilio on 127.0.0.1 in a thread: ``with FakeTwilioServer() as server: server.url``."""

    def __init__(self, fake: FakeTwilio | None = None, port: int = 0) -> None:
        super().__init__(fake or FakeTwilio(), Handler, port=port, name="fake-twilio")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=8081)
    args = parser.parse_args()
    with FakeTwilioServer(port=args.port) as server:
        print(f"fake Twilio on {server.url}; account {server.fake.account_sid}, token {server.fake.auth_token}")
        threading.Event().wait()


if __name__ == "__main__":
    main()
