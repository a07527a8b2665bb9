"""The IMAP client of the e-mail channel (imap-tools): the only code that talks to a mailbox's server.

imap-tools and imaplib are blocking; each call of :class:`ImapClient` runs in a thread, and an
:class:`IdleConnection` lives in a thread of its own (idle.py). Every failure — network, TLS, login, a folder that
does not exist, an answer the server should not give — becomes :class:`api.errors.ImapError`.
Messages are read with ``BODY.PEEK[]``, so reading marks nothing; ``finish`` moves or flags them afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import imaplib
import re
import socket
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from imap_tools import MailBox, MailBoxStartTls, MailBoxUnencrypted, MailMessageFlags
from imap_tools.errors import ImapToolsError
from pydantic import SecretStr

from api.errors import ImapError

T = TypeVar("T")
Tls = Literal["none", "starttls", "ssl"]
_SIZE = re.compile(rb"UID (\d+) RFC822\.SIZE (\d+)|RFC822\.SIZE (\d+) UID (\d+)")


@dataclass(frozen=True)
class ImapConfig:
    host: str
    port: int
    tls: Tls
    username: str
    password: SecretStr
    folder: str = "INBOX"
    timeout_s: float = 30.0

    def __repr__(self) -> str:  # never the password
        return f"ImapConfig({self.username}@{self.host}:{self.port}, tls={self.tls}, folder={self.folder!r})"


@dataclass(frozen=True)
class Fetched:
    uid: int
    raw: bytes
    size: int
    header_only: bool  # over the size limit: only the header was read


@contextlib.contextmanager
def _translated(config: ImapConfig) -> Iterator[None]:
    """Turns what imap-tools, imaplib and the socket raise into :class:`ImapError`."""
    try:
        yield
    except (ImapToolsError, imaplib.IMAP4.error, OSError, ssl.SSLError, ValueError, IndexError) as exc:
        raise ImapError(f"IMAP {config.host}:{config.port} ({config.username}): "
                        f"{type(exc).__name__}: {str(exc)[:300]}") from exc


def _login(c: ImapConfig) -> Any:
    """A logged-in imap-tools mailbox with ``c.folder`` selected (blocking)."""
    box: Any
    if c.tls == "ssl":
        box = MailBox(c.host, c.port, timeout=c.timeout_s, ssl_context=ssl.create_default_context())
    elif c.tls == "starttls":
        box = MailBoxStartTls(c.host, c.port, timeout=c.timeout_s, ssl_context=ssl.create_default_context())
    else:
        box = MailBoxUnencrypted(c.host, c.port, timeout=c.timeout_s)
    return box.login(c.username, c.password.get_secret_value(), initial_folder=c.folder)


def _logout(box: Any) -> None:
    try:
        box.logout()
    except Exception:  # noqa: S110 - the session is over either way
        pass


class ImapClient:
    """``async with ImapClient(config) as imap: await imap.uidvalidity()`` …"""

    def __init__(self, config: ImapConfig) -> None:
        self.config = config
        self._box: Any = None

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        with _translated(self.config):
            return await asyncio.to_thread(fn, *args)

    async def __aenter__(self) -> ImapClient:
        self._box = await self._call(_login, self.config)
        return self

    async def __aexit__(self, *exc: object) -> None:
        box, self._box = self._box, None
        if box is not None:
            await asyncio.to_thread(_logout, box)

    async def uidvalidity(self) -> int:
        status = await self._call(self._box.folder.status, self.config.folder, ["UIDVALIDITY"])
        return int(status["UIDVALIDITY"])

    async def sizes_after(self, uid: int, *, limit: int) -> dict[int, int]:
        """UID -> size of the first ``limit`` messages with a UID above ``uid``, oldest first."""
        def fetch() -> dict[int, int]:
            typ, data = self._box.client.uid("FETCH", f"{uid + 1}:*", "(UID RFC822.SIZE)")
            if typ != "OK":
                raise imaplib.IMAP4.error(f"FETCH answered {typ}")
            found: dict[int, int] = {}
            for item in data:
                line = item[0] if isinstance(item, tuple) else item
                if m := _SIZE.search(line or b""):
                    u, size = (int(m.group(1)), int(m.group(2))) if m.group(1) else (int(m.group(4)), int(m.group(3)))
                    if u > uid:  # "n:*" always names the last message, even below n
                        found[u] = size
            return {u: found[u] for u in sorted(found)[:limit]}
        return await self._call(fetch)

    async def fetch(self, uid: int, *, size: int, max_bytes: int) -> Fetched | None:
        """The message (only its header when over ``max_bytes``); None when it is gone meanwhile."""
        header_only = size > max_bytes
        def fetch() -> bytes | None:
            part = "BODY.PEEK[HEADER]" if header_only else "BODY.PEEK[]"
            typ, data = self._box.client.uid("FETCH", str(uid), f"({part})")
            if typ != "OK":
                raise imaplib.IMAP4.error(f"FETCH answered {typ}")
            for item in data:
                if isinstance(item, tuple) and len(item) == 2:
                    return bytes(item[1])
            return None
        raw = await self._call(fetch)
        return None if raw is None else Fetched(uid=uid, raw=raw, size=size, header_only=header_only)

    async def finish(self, uids: list[int], *, move_to: str | None) -> None:
        """Moves the processed messages to ``move_to``, or flags them \\Seen when it is None."""
        if not uids:
            return
        ids = [str(u) for u in uids]
        if move_to:
            await self._call(self._box.move, ids, move_to)
        else:
            await self._call(self._box.flag, ids, MailMessageFlags.SEEN, True)

    async def count(self) -> int:
        """How many messages the folder holds (``deskmate mailboxes test``)."""
        status = await self._call(self._box.folder.status, self.config.folder, ["MESSAGES"])
        return int(status["MESSAGES"])


class IdleConnection:
    """A blocking connection that waits for new mail in IDLE (RFC 2177), for a thread of its own::

        with IdleConnection(config) as conn:
            if conn.offers_idle():
                while conn.wait(timeout=540): ...   # True: the server reported new mail

    ``interrupt()``, from another thread, ends a ``wait`` at once (it raises ImapError then).
    """

    def __init__(self, config: ImapConfig) -> None:
        self.config = config
        self._box: Any = None

    def __enter__(self) -> IdleConnection:
        with _translated(self.config):
            self._box = _login(self.config)
        return self

    def __exit__(self, *exc: object) -> None:
        box, self._box = self._box, None
        if box is not None:
            _logout(box)

    def offers_idle(self) -> bool:
        """Whether the server lists IDLE among its capabilities (asked after login: some list it only then)."""
        with _translated(self.config):
            typ, data = self._box.client.capability()
        return typ == "OK" and b"IDLE" in b" ".join(d for d in data if isinstance(d, bytes)).upper().split()

    def wait(self, *, timeout: float) -> bool:
        """Idles until the server reports a change or ``timeout`` s pass (then IDLE ends, as RFC 2177 wants it
        renewed within 29 minutes); True when the server reported new mail (``* n EXISTS``)."""
        idle, client = self._box.idle, self._box.client
        with _translated(self.config):
            idle.start()
            lines = idle.poll(timeout=timeout)
            idle.stop()
        # An EXISTS the server sent with another answer (IDLE's start or end, the login) is in imaplib's store.
        told = client.untagged_responses.pop("EXISTS", None)
        return bool(told) or any(line.rstrip().upper().endswith(b" EXISTS") for line in lines)

    def interrupt(self) -> None:
        """Shuts the socket down: a ``wait`` in another thread returns with an error now (stopping the worker)."""
        box = self._box
        if box is not None:
            with contextlib.suppress(OSError):
                box.client.sock.shutdown(socket.SHUT_RDWR)
