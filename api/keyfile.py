"""Secret files kept in the data dir (development keys and tokens): one place that creates and reads them.

A file is created readable by its owner only (mode 0600) from the first byte, and atomically: it is
written under a temporary name opened with that mode and then linked into place, so no other process
ever sees it half-written or with looser permissions, and two processes racing to create it agree on
one value. ``replace_secret`` swaps a file's content the same way (rename over the old file).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["read_or_create", "replace_secret", "write_secret"]


@contextmanager
def _private_temp(path: Path, value: str) -> Iterator[Path]:
    """A file next to ``path`` holding ``value``, mode 0600 from its creation; removed afterwards."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(value)
            out.flush()
            os.fsync(out.fileno())
        yield tmp
    finally:
        tmp.unlink(missing_ok=True)


def write_secret(path: Path, value: str) -> bool:
    """Creates ``path`` holding ``value`` (mode 0600); returns False when the file already existed."""
    with _private_temp(path, value) as tmp:
        try:
            os.link(tmp, path)  # fails when another process created it first
        except FileExistsError:
            return False
        return True


def replace_secret(path: Path, value: str) -> None:
    """Writes ``value`` to ``path`` (mode 0600), replacing any earlier file in one atomic rename."""
    with _private_temp(path, value) as tmp:
        os.replace(tmp, path)


def read_or_create(path: Path, *, nbytes: int = 48, generate: Callable[[], str] | None = None) -> str:
    """The secret kept in ``path``; created first when missing, by ``generate`` or as a random URL-safe
    text of ``nbytes`` bytes."""
    if not path.exists():
        write_secret(path, generate() if generate else secrets.token_urlsafe(nbytes))
    return path.read_text().strip()
