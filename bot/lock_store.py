"""The lock store of the Rasa server, chosen by the environment: Rasa's own Redis lock store when
``DESKMATE_RASA_LOCK_STORE_URL`` is set (``redis://[:password@]host[:port][/db]``), else its in-memory one.

Rasa handles one conversation's messages one at a time under a lock. One Rasa server keeps those locks in
memory; several servers sharing the tracker store must share the locks too (Redis), or two of them could
handle messages of one conversation at once and lose one's events. ``deskmate run --replicas rasa=2`` starts a
Redis and sets the variable (api/dev/replicas.py).

Registered in bot/endpoints.yml as ``lock_store: {type: bot.lock_store.EnvLockStore}``: Rasa loads a custom
lock store by its module path. ``${VAR}`` in endpoints.yml cannot be left unset, so an environment-driven choice
there would oblige everyone who starts Rasa (tests, benchmarks, images) to set the Redis variables too; this
class keeps one Rasa server working with none. It returns an instance of Rasa's own class, so Rasa's checks
(``isinstance(…, InMemoryLockStore)`` before it allows several Sanic workers) see the real thing.
"""
from __future__ import annotations

import logging
import os
from typing import Any
from urllib.parse import unquote, urlsplit

from rasa.core.lock_store import InMemoryLockStore, LockStore, RedisLockStore

log = logging.getLogger(__name__)
URL_VARIABLE = "DESKMATE_RASA_LOCK_STORE_URL"
KEY_PREFIX = "deskmate"


class LockStoreURLError(ValueError):
    """DESKMATE_RASA_LOCK_STORE_URL is not a redis:// URL."""


def redis_options(url: str) -> dict[str, Any]:
    """The RedisLockStore arguments for ``url`` (``redis://`` or ``rediss://``); raises LockStoreURLError."""
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss") or not parts.hostname:
        raise LockStoreURLError(f"{URL_VARIABLE} must look like redis://:password@host:6379/1 "
                                f"(scheme {parts.scheme or 'missing'!r})")
    db = parts.path.strip("/") or "1"
    if not db.isdigit():
        raise LockStoreURLError(f"{URL_VARIABLE}: the database must be a number, not {db!r}")
    return {"host": parts.hostname, "port": parts.port or 6379, "db": int(db),
            "username": unquote(parts.username) if parts.username else None,
            "password": unquote(parts.password) if parts.password else None,
            "use_ssl": parts.scheme == "rediss", "key_prefix": KEY_PREFIX}


class EnvLockStore:
    """Makes Rasa's RedisLockStore or InMemoryLockStore, whichever the environment asks for."""

    def __new__(cls, endpoint_config: Any = None) -> LockStore:  # type: ignore[misc]
        url = os.environ.get(URL_VARIABLE, "").strip()
        if not url:
            return InMemoryLockStore()
        options = redis_options(url)
        log.info("conversation locks in Redis at %s:%s/%s", options["host"], options["port"], options["db"])
        return RedisLockStore(**options)
