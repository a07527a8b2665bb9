"""``deskmate analytics refresh``: build or bring up to date the analytics rollups (api/analytics/rollups.py)."""

from __future__ import annotations

import time
from collections.abc import Awaitable
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from api.analytics import rollups
from api.cli_helpers import migrate_db, with_conn
from api.db import Conn
from api.settings import get_settings

analytics_app = typer.Typer(help="The analytics: build their rollups.", no_args_is_help=True)


@analytics_app.command("refresh")
def refresh(full: Annotated[bool, typer.Option(
        "--full", help="empty the rollups and build them from every ticket (after editing business calendars)")]
            = False) -> None:
    """Roll up the tickets created or changed since the last refresh (all of them the first time; the worker does
    this every 15 minutes)."""
    settings = get_settings()
    migrate_db(settings, quiet=True)
    columns = (TextColumn("rolling up"), BarColumn(), MofNCompleteColumn(), TextColumn("tickets"), TimeElapsedColumn())
    started = time.perf_counter()
    with Progress(*columns, console=Console(stderr=True)) as bar:
        task = bar.add_task("rollups", total=None)

        def work(conn: Conn) -> Awaitable[dict[str, int]]:
            return rollups.refresh(conn, full=full, on_progress=lambda done, total: bar.update(
                task, completed=done, total=total))

        done = with_conn(settings, work)
    typer.echo(f"analytics rollups: {done['tickets']} tickets rolled up in {time.perf_counter() - started:.1f} s "
               f"(up to ticket {done['ticket_upto']}, event {done['event_upto']})")
