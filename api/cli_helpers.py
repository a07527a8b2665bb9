"""The helpers every ``deskmate`` command shares: report a failure, migrate, run async work on one connection."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import NoReturn, TypeVar

import psycopg
import typer
from psycopg.rows import dict_row

import kb_index
from api import db, migrate
from api.auth.models import Role
from api.errors import DeskmateError
from api.settings import Settings

T = TypeVar("T")
# Errors a command reports as one line and exit status 1 instead of a traceback.
REPORTED = (DeskmateError, kb_index.ArticleError)


def fail(message: str) -> NoReturn:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(1)


def detail(exc: BaseException) -> str:
    return str(getattr(exc, "detail", None) or exc)


def migrate_db(settings: Settings, *, quiet: bool = False) -> None:
    """Applies pending migrations and says how many, or fails the command."""
    try:
        applied = migrate.migrate(db.database_url(settings), settings.migrations_dir)
    except DeskmateError as exc:
        fail(exc.detail)
    if not quiet:
        typer.echo(f"migrations: {len(applied)} applied" + (f" ({', '.join(applied)})" if applied else ", up to date"))


def run_async(work: Awaitable[T]) -> T:
    """Runs ``work`` to the end; a reported error becomes ``error: …`` and exit status 1."""
    try:
        return asyncio.run(work)  # type: ignore[arg-type]
    except REPORTED as exc:
        fail(detail(exc))


def with_conn(settings: Settings, work: Callable[[db.Conn], Awaitable[T]], *, vector: bool = False) -> T:
    """Runs ``work`` on one autocommit connection (``vector``: with the pgvector type registered)."""
    async def go() -> T:
        url = db.database_url(settings)
        async with await psycopg.AsyncConnection.connect(url, autocommit=True, row_factory=dict_row) as conn:
            if vector:
                await kb_index.register(conn)
            return await work(conn)

    return run_async(go())


_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_expiry(text: str, *, role: Role, now: datetime | None = None) -> datetime | None:
    """``90d``, ``12h``, ``30m``, ``2w`` from now, or None for ``never`` (service tokens only)."""
    text = text.strip().lower()
    if text == "never":
        if role is not Role.service:
            fail("only service tokens may never expire; give people a lifetime such as 90d")
        return None
    number, unit = text[:-1], text[-1:]
    if unit not in _UNITS or not number.isdigit() or int(number) == 0:
        fail(f"--expires-in {text!r}: use a number and a unit (m, h, d, w), e.g. 90d, or 'never'")
    return (now or datetime.now(UTC)) + timedelta(seconds=int(number) * _UNITS[unit])
