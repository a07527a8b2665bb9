"""A TCP proxy in front of the real slapd that reads the LDAP messages going through it (BER framing only):
it records the requests that reached slapd, and can hold back a chosen request (slapd never sees it) or slapd's
answer to it (slapd applied the change; the client never hears): the moments to kill a worker mid-step.

    with LdapProxy(slapd.url) as proxy:
        proxy.hold(lambda op, raw: op == MODIFY and b"uid=x," in raw, applied=True)
        ...                                   # the worker's DESKMATE_LDAP_URL is proxy.url
        assert proxy.held.wait(60)            # slapd applied it; the worker waits for an answer that never comes
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlparse

MODIFY, MODIFY_RESPONSE = 0x66, 0x67  # [APPLICATION 6] ModifyRequest, [APPLICATION 7] ModifyResponse


@dataclass(frozen=True)
class Message:
    message_id: int
    op: int  # the protocolOp's tag
    raw: bytes


def _read_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def _length(sock: socket.socket) -> tuple[int, bytes]:
    first = _read_exact(sock, 1)
    if first[0] < 0x80:
        return first[0], first
    more = _read_exact(sock, first[0] & 0x7F)
    return int.from_bytes(more, "big"), first + more


def read_message(sock: socket.socket) -> Message:
    """One LDAPMessage (SEQUENCE { messageID INTEGER, protocolOp, controls }) from ``sock``."""
    tag = _read_exact(sock, 1)
    size, size_bytes = _length(sock)
    body = _read_exact(sock, size)
    id_size = body[1]  # messageID: 0x02, a short length (at most 4 bytes), the value
    return Message(message_id=int.from_bytes(body[2:2 + id_size], "big"), op=body[2 + id_size],
                   raw=tag + size_bytes + body)


class LdapProxy:
    """Forwards ldap:// connections to ``upstream``; ``requests`` lists the requests slapd received (in order)."""

    def __init__(self, upstream: str) -> None:
        target = urlparse(upstream)
        self.upstream = (target.hostname or "127.0.0.1", target.port or 389)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"ldap://127.0.0.1:{self.listener.getsockname()[1]}"
        self.requests: list[Message] = []
        self.held = threading.Event()  # set when an answer was held back
        self._hold: Callable[[int, bytes], bool] | None = None
        self._applied = True
        self._held_ids: set[tuple[int, int]] = set()  # (connection, message id)
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []

    def hold(self, matches: Callable[[int, bytes], bool], *, applied: bool) -> None:
        """Holds the first request ``matches(op, raw)`` accepts: ``applied``: it reaches slapd and its answer never
        reaches the client; else slapd never receives it. ``held`` is set then."""
        self._hold, self._applied = matches, applied

    def count(self, op: int, marker: bytes) -> int:
        """How many requests of ``op`` carrying ``marker`` (a DN, an attribute name) went to slapd."""
        with self._lock:
            return sum(1 for m in self.requests if m.op == op and marker in m.raw)

    def __enter__(self) -> LdapProxy:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.listener.close()
        for sock in list(self._sockets):
            sock.close()

    def _accept(self) -> None:
        number = 0
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            self._sockets += [client, server]
            number += 1
            threading.Thread(target=self._pump_requests, args=(number, client, server), daemon=True).start()
            threading.Thread(target=self._pump_answers, args=(number, server, client), daemon=True).start()

    def _pump_requests(self, number: int, client: socket.socket, server: socket.socket) -> None:
        try:
            while True:
                message = read_message(client)
                with self._lock:
                    held = self._hold is not None and self._hold(message.op, message.raw)
                    if held:
                        self._hold = None
                        self._held_ids.add((number, message.message_id))
                    if held and not self._applied:
                        self.held.set()
                        continue
                    self.requests.append(message)
                server.sendall(message.raw)
        except (EOFError, OSError):
            _close(client, server)

    def _pump_answers(self, number: int, server: socket.socket, client: socket.socket) -> None:
        try:
            while True:
                message = read_message(server)
                with self._lock:
                    hold = (number, message.message_id) in self._held_ids
                if hold:
                    self.held.set()
                    continue
                client.sendall(message.raw)
        except (EOFError, OSError):
            _close(client, server)


def _close(*sockets: socket.socket) -> None:
    for sock in sockets:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()
