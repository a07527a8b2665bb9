"""``deskmate purge``: run the retention purge now, or show what it would delete."""

from __future__ import annotations

import asyncio
from typing import Annotated

import psycopg
import typer
from psycopg.rows import dict_row

from api import db, migrate, retention
from api.settings import get_settings


def purge(dry_run: Annotated[bool, typer.Option("--dry-run", help="only count what would go")] = False) -> None:
    """Delete what is past its retention (docs/operations.md); --dry-run shows per table what would go."""
    settings = get_settings()

    async def go() -> list[retention.Purged]:
        url = await asyncio.to_thread(db.database_url, settings)
        await asyncio.to_thread(migrate.migrate, url, settings.migrations_dir)
        async with await psycopg.AsyncConnection.connect(url, autocommit=True, row_factory=dict_row) as conn:
            return await retention.purge(conn, settings, dry_run=dry_run)

    for p in asyncio.run(go()):
        typer.echo(f"{p.table:<22} {p.matched if dry_run else p.deleted:>8} {'would go' if dry_run else 'deleted'}")
