"""IMAP IDLE: mail becomes a ticket seconds after it arrives, not at the next minute's poll (DESKMATE_EMAIL_IDLE).

The :class:`Supervisor` runs in the worker beside the job queue (``serve`` in tasks.py). Every
DESKMATE_EMAIL_IDLE_REFRESH_S it re-reads the enabled mailboxes and keeps one :class:`Watcher` on each: a thread
holding an IMAP connection in IDLE (ended and issued again every DESKMATE_EMAIL_IDLE_RENEW_S, within RFC 2177's
29 minutes), which wakes the watcher's reader when the server reports new mail (EXISTS). The reader, a task on the
worker's loop, reads the mailbox with ``ingest.poll_mailbox``: the path, the mailbox lock and the cursor the minute
poll uses, so IDLE and the poll never take one message twice. The poll stays, as the safety net.

A server that does not offer IDLE is left to the poll: its watcher's thread ends after the capability check. A lost
connection is opened again after 1 s, then 2, 4 … up to 5 minutes. A mailbox disabled, deleted or pointed at another
server, account or folder through the admin API loses its watcher (and gets a new one) at the next refresh.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from typing import Any

import psycopg
import psycopg_pool

from api.channels.email import ingest
from api.channels.email import service as mailboxes
from api.channels.email.imap import IdleConnection, ImapConfig
from api.errors import DeskmateError, ImapError
from api.settings import Settings

log = logging.getLogger(__name__)
BACKOFF_MAX_S = 300.0
BUSY_RETRY_S = 1.0  # the minute poll holds the mailbox: read again after this
THREAD_PREFIX = "deskmate-idle-"
# What the IDLE connection depends on: a change to one of these opens a new connection.
_WHERE = ("host", "port", "tls", "username", "password_encrypted", "folder")


def _where(row: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(row[k] for k in _WHERE)


class Watcher:
    """One mailbox's IDLE connection (a thread) and the reader it wakes (a task on the supervisor's loop)."""

    def __init__(self, pool: Any, settings: Settings, *, mailbox_id: int, config: ImapConfig,
                 where: tuple[Any, ...]) -> None:
        self.mailbox_id, self.where = mailbox_id, where
        self.offers_idle: bool | None = None  # None until the server has been asked
        self._pool, self._settings, self._config = pool, settings, config
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._stopping = threading.Event()
        self._conn: IdleConnection | None = None
        self.thread = threading.Thread(target=self._listen, name=f"{THREAD_PREFIX}{mailbox_id}", daemon=True)
        self._reader = asyncio.create_task(self._read_when_woken())
        self.thread.start()

    def _listen(self) -> None:
        """The thread: IDLE until stopped; reconnect with backoff."""
        delay = 1.0
        while not self._stopping.is_set():
            try:
                with IdleConnection(self._config) as conn:
                    self._conn = conn
                    if self._stopping.is_set() or not self._check(conn):
                        return
                    self._wake_reader()  # what arrived while no connection was waiting
                    while not self._stopping.is_set():
                        if conn.wait(timeout=self._settings.email.idle_renew_s):
                            self._wake_reader()
                        delay = 1.0  # an IDLE that worked: the next failure waits 1 s again
            except ImapError as exc:
                if self._stopping.is_set():
                    return
                log.warning("IDLE connection lost; opening it again in %.0f s", delay,
                            extra={"mailbox_id": self.mailbox_id, "error": exc.detail})
                self._stopping.wait(delay)
                delay = min(delay * 2, BACKOFF_MAX_S)
            finally:
                self._conn = None

    def _check(self, conn: IdleConnection) -> bool:
        self.offers_idle = conn.offers_idle()
        if not self.offers_idle:
            log.info("the mailbox's server does not offer IDLE: the minute poll reads it",
                     extra={"mailbox_id": self.mailbox_id})
        return self.offers_idle

    def _wake_reader(self) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: the worker is gone
            self._loop.call_soon_threadsafe(self._wake.set)

    async def _read_when_woken(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self._stopping.is_set():
                return
            if await self._read_busy():
                await asyncio.sleep(BUSY_RETRY_S)
                self._wake.set()

    async def _read_busy(self) -> bool:
        """Reads the mailbox's new mail; True when another poll held it (read again soon)."""
        try:
            async with self._pool.connection() as conn:
                result = await ingest.poll_mailbox(conn, self._settings, mailbox_id=self.mailbox_id)
        except (psycopg.Error, psycopg_pool.PoolTimeout, DeskmateError) as exc:
            log.warning("reading a mailbox after IDLE failed; the minute poll will",
                        extra={"mailbox_id": self.mailbox_id, "error": str(exc)[:300]})
            return False
        except Exception:  # a bug must not end the reader: the next EXISTS tries again
            log.exception("reading a mailbox after IDLE failed", extra={"mailbox_id": self.mailbox_id})
            return False
        return result.busy

    async def stop(self) -> None:
        """Ends the IDLE connection and the reader (a read under way finishes first); joins the thread."""
        self._stopping.set()
        conn = self._conn
        if conn is not None:
            conn.interrupt()
        self._wake.set()
        await self._reader
        await asyncio.to_thread(self.thread.join, self._config.timeout_s + 5)
        if self.thread.is_alive():
            log.warning("an IDLE thread did not stop in time", extra={"mailbox_id": self.mailbox_id})


class Supervisor:
    """``await Supervisor(pool, settings).run(stop)``: a :class:`Watcher` on every enabled mailbox until ``stop``.

    Parameters: ``pool`` — an autocommit psycopg pool with dict rows (the worker's); ``settings`` — the worker's.
    """

    def __init__(self, pool: Any, settings: Settings) -> None:
        self.pool, self.settings = pool, settings
        self.watchers: dict[int, Watcher] = {}

    async def run(self, stop: asyncio.Event) -> None:
        """Refreshes the watchers until ``stop`` is set, then stops them all (their threads joined)."""
        try:
            while not stop.is_set():
                try:
                    await self.refresh()
                except Exception:  # a bug must not end IDLE for good: the next refresh tries again
                    log.exception("the IDLE supervisor's refresh failed")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.settings.email.idle_refresh_s)
        finally:
            watchers, self.watchers = list(self.watchers.values()), {}
            await asyncio.gather(*(w.stop() for w in watchers))

    async def refresh(self) -> None:
        """Watches the enabled mailboxes as they are now: stops the watchers of the others, starts the missing ones."""
        try:
            async with self.pool.connection() as conn:
                rows = {r["id"]: r for r in await mailboxes.list_rows(conn, enabled_only=True)}
        except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
            log.warning("the IDLE supervisor could not read the mailboxes", extra={"error": str(exc)[:300]})
            return
        for mailbox_id, watcher in list(self.watchers.items()):
            if mailbox_id not in rows or _where(rows[mailbox_id]) != watcher.where:
                del self.watchers[mailbox_id]
                await watcher.stop()
        for mailbox_id, row in rows.items():
            if mailbox_id not in self.watchers:
                self._start(row)

    def _start(self, row: dict[str, Any]) -> None:
        try:
            config = mailboxes.imap_config(self.settings, row)
        except DeskmateError as exc:  # its password was encrypted with a key no longer configured
            log.warning("no IDLE for a mailbox", extra={"mailbox_id": row["id"], "error": exc.detail})
            return
        self.watchers[row["id"]] = Watcher(self.pool, self.settings, mailbox_id=row["id"], config=config,
                                           where=_where(row))
