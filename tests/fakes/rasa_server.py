"""A fake Rasa 3.6 server for widget and gateway tests: deskmate's input channel and NLU parse.

It answers the way Rasa with deskmate's channel (bot/channel.py) does: ``POST /webhooks/deskmate/webhook``
(and ``/parse``, NLU only)
refuses a request without the right ``X-Deskmate-Channel-Secret`` (403) and otherwise returns
``{"messages": [{recipient_id, text, buttons?, custom?}], "intent": {"name", "confidence"}}``; Rasa's plain
REST channel is not there (404), as in the real configuration. Replies are deterministic, chosen by the
user's text (see ``SCRIPT``).

Tests can hold every reply until they release it, to see what the widget shows while it waits::

    fake.hold()            # the next webhook calls block…
    …                      # …assert the typing indicator
    fake.release()         # …and now they answer

Run standalone (manual widget work, or as a process a test stops and restarts):
``python tests/fakes/rasa_server.py --port 5005 --secret S``.
"""

from __future__ import annotations

import argparse
import hmac
import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

HOLD_TIMEOUT_S = 30.0  # a held reply never blocks forever, even when a test fails before release()

XSS_TEXT = 'Look: <img src=x onerror="window.__xss=1"> and [click me](javascript:window.__xss=2)'
LINKS_TEXT = "The VPN guide is at https://intranet.example.com/it/vpn. Or see [the FAQ](https://intranet.example.com/it/faq)."


def _reply(text: str, *, intent: str, buttons: Sequence[tuple[str, str]] = (), custom: dict[str, Any] | None = None,
           confidence: float = 0.97) -> dict[str, Any]:
    return {"text": text, "buttons": [{"title": t, "payload": p} for t, p in buttons], "custom": custom,
            "intent": intent, "confidence": confidence}


# user text (lower-cased, exact) → the bot's reply
SCRIPT: dict[str, dict[str, Any]] = {
    "hello": _reply("Hi! I'm deskmate. Did restarting your laptop help?", intent="greet",
                    buttons=[("Yes, it did", "/affirm"), ("No", "/deny")]),
    "/affirm": _reply("Great, glad that helped!", intent="affirm", confidence=1.0),
    "/deny": _reply("Sorry about that. Shall I open a ticket?", intent="deny", confidence=1.0,
                    buttons=[("Open a ticket", "deskmate:open_ticket")]),
    "show me links": _reply(LINKS_TEXT, intent="ask_question", custom={
        "links": [{"title": "VPN guide", "url": "https://intranet.example.com/it/vpn"},
                  {"title": "Not a web link", "url": "javascript:alert(1)"}],
        "citations": [{"n": 1, "title": "Connecting to the VPN", "url": "https://kb.example.com/vpn"},
                      {"n": 2, "title": "VPN troubleshooting", "url": None}]}),
    "xss please": _reply(XSS_TEXT, intent="ask_question", confidence=0.5),
}


@dataclass
class FakeRasa:
    """The fake server's state: what it received, and the gate that holds replies."""

    url: str = ""
    secret: str = ""
    received: list[dict[str, Any]] = field(default_factory=list)
    latest: dict[str, dict[str, Any]] = field(default_factory=dict)
    _gate: threading.Event = field(default_factory=threading.Event)
    waiting: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self._gate.set()

    def hold(self) -> None:
        """Makes webhook calls wait until :meth:`release`."""
        self.waiting.clear()
        self._gate.clear()

    def release(self) -> None:
        self._gate.set()

    def answer(self, sender: str, text: str, metadata: Any = None) -> dict[str, Any]:
        self.received.append({"sender": sender, "message": text, "metadata": metadata})
        if not self._gate.is_set():
            self.waiting.set()
            self._gate.wait(HOLD_TIMEOUT_S)
        reply = SCRIPT.get(text.strip().lower()) or _reply(f"You said: {text}", intent="ask_question", confidence=0.42)
        self.latest[sender] = {"name": reply["intent"], "confidence": reply["confidence"]}
        out: list[dict[str, Any]] = [{"recipient_id": sender, "text": reply["text"]}]
        if reply["buttons"]:
            out[0]["buttons"] = reply["buttons"]
        if reply["custom"]:
            out.append({"recipient_id": sender, "custom": reply["custom"]})
        return {"messages": out, "intent": self.latest[sender]}


def _handler(fake: FakeRasa) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _send(self, status: int, body: Any, content_type: str = "application/json") -> None:
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _allowed(self) -> bool:
            given = self.headers.get("X-Deskmate-Channel-Secret") or ""
            return bool(fake.secret) and hmac.compare_digest(given.encode(), fake.secret.encode())

        def _json(self) -> Any:
            length = int(self.headers.get("Content-Length") or 0)
            return json.loads(self.rfile.read(length) or b"null")

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            path = urlsplit(self.path).path
            if path == "/":
                return self._send(200, "Hello from Rasa: 3.6.21", "text/plain")
            if path == "/webhooks/deskmate/":
                if not self._allowed():
                    return self._send(403, {"error": "forbidden"})
                return self._send(200, {"status": "ok"})
            self._send(404, {"status": "failure", "reason": "NotFound", "code": 404})

        def do_POST(self) -> None:  # noqa: N802
            path = urlsplit(self.path).path
            body = self._json() or {}
            if path == "/webhooks/deskmate/webhook":
                if not self._allowed():
                    return self._send(403, {"error": "forbidden"})
                if not isinstance(body, dict) or not isinstance(body.get("sender"), str) \
                        or not isinstance(body.get("message"), str):  # bot/channel.py's check
                    return self._send(400, {"error": "sender and message are required"})
                return self._send(200, fake.answer(body["sender"], body["message"], body.get("metadata")))
            if path == "/webhooks/deskmate/parse":
                if not self._allowed():
                    return self._send(403, {"error": "forbidden"})
                if not isinstance(body.get("text"), str):
                    return self._send(400, {"error": "text is required"})
                fake.received.append({"parse": body["text"], "metadata": body.get("metadata")})
                text = body["text"]
                reply = SCRIPT.get(text.strip().lower()) or _reply("", intent="ask_question", confidence=0.42)
                intent = {"name": reply["intent"], "confidence": reply["confidence"]}
                return self._send(200, {"text": text, "intent": intent, "intent_ranking": [intent], "entities": []})
            self._send(404, {"status": "failure", "reason": "NotFound", "code": 404})

        def log_message(self, *args: Any) -> None:  # keep test output clean
            pass

    return Handler


class FakeRasaServer:
    """The fake on a free loopback port, served from a background thread: ``with FakeRasaServer() as fake:``."""

    def __init__(self, port: int = 0, *, secret: str) -> None:
        self.fake = FakeRasa(secret=secret)
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _handler(self.fake))
        self._server.daemon_threads = True
        self.fake.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-rasa", daemon=True)

    def __enter__(self) -> FakeRasa:
        self._thread.start()
        return self.fake

    def __exit__(self, *exc: object) -> None:
        self.fake.release()
        self._server.shutdown()
        self._server.server_close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=5005)
    parser.add_argument("--secret", required=True, help="the channel secret (DESKMATE_RASA_CHANNEL_SECRET)")
    args = parser.parse_args()
    with FakeRasaServer(args.port, secret=args.secret) as fake:
        print(f"fake Rasa listening on {fake.url}", flush=True)
        threading.Event().wait()


if __name__ == "__main__":
    main()
