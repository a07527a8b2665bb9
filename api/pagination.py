"""Cursor pagination over an id: opaque cursors, one page = ``limit + 1`` rows fetched.

A query orders by id (newest first: ``id < %(before_id)s``; oldest first: ``id > %(after_id)s``) and
fetches one row more than asked; :func:`page` cuts it and makes the cursor that continues after the
last row. The cursor names its list (``kind``), so a ticket cursor is refused by the alert history.

    rows = await (await conn.execute(Q.list_tickets, {..., "before_id": pagination.decode("t", cursor),
                                                      "limit": limit + 1})).fetchall()
    items, next_cursor = pagination.page([Ticket(**r) for r in rows], limit=limit, kind="t")
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from typing import Annotated, Any, TypeVar

from fastapi import Query

from api.errors import ValidationFailed

T = TypeVar("T")
MAX_ID = 2**63 - 1  # bigint

CursorParam = Annotated[str | None, Query(max_length=100, description="next_cursor of the previous page")]


def encode(kind: str, last_id: int) -> str:
    """The opaque cursor that continues after ``last_id``."""
    return base64.urlsafe_b64encode(f"{kind}:{last_id}".encode()).decode()


def decode(kind: str, cursor: str | None) -> int | None:
    """The id a cursor of this ``kind`` continues after; None without a cursor. ValidationFailed if malformed."""
    if cursor is None:
        return None
    try:
        found, _, value = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
        if found == kind and value.isascii() and value.isdigit() and int(value) <= MAX_ID:
            return int(value)
    except (ValueError, binascii.Error):
        pass
    raise ValidationFailed("The cursor is not valid; use next_cursor from the previous page.")


def page(rows: Sequence[T], *, limit: int, kind: str, key: Callable[[T], int] | None = None) -> tuple[list[T], str | None]:
    """The first ``limit`` rows and the cursor to the next page (None when these were the last)."""
    items = list(rows[:limit])
    if len(rows) <= limit or not items:
        return items, None
    last = items[-1]
    return items, encode(kind, key(last) if key else _id(last))


def _id(item: Any) -> int:
    return int(item["id"] if isinstance(item, dict) else item.id)
