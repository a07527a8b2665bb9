"""Secret files kept in the data dir (development keys and tokens): one place that creates and reads them.

A file is created readable by its owner only (mode 0600) from the first byte, and atomically: it is
written under a temporary name opened with that mode and then linked into place, so no other process
ever sees it half-written or with looser permissions, and two processes racing to create it agree on
one value.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

__all__ = ["read_or_create", "write_secret"]


def write_secret(path: Path, value: str) -> bool:
    """Creates ``path`` holding ``value`` (mode 0600); returns False when the file already existed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(value)
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(tmp, path)  # fails when another process created it first
        except FileExistsError:
            return False
        return True
    finally:
        tmp.unlink(missing_ok=True)


def read_or_create(path: Path, *, nbytes: int = 48) -> str:
    """The secret kept in ``path``; a random URL-safe one of ``nbytes`` bytes is created first when missing."""
    if not path.exists():
        write_secret(path, secrets.token_urlsafe(nbytes))
    return path.read_text().strip()
