"""``deskmate sync list|add|set|remove|status|backfill|reconcile`` (docs/integrations/glpi.md#the-cli).

``add`` and ``set`` read the same JSON body as ``POST`` / ``PATCH /api/v1/sync/connectors`` from a file (``-``:
standard input, so secrets need not touch the disk), validated by the same models and stored by the same service
(secrets encrypted, never printed)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import TypeAdapter, ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from api import db
from api.cli_helpers import fail, migrate_db, with_conn
from api.errors import DeskmateError
from api.integrations.sync import bulk, connectors, service
from api.integrations.sync.models import Connector, ConnectorPatch, ConnectorStatus, NewConnector
from api.settings import get_settings

sync_app = typer.Typer(help="Sync with external service desks (GLPI, SAP Solution Manager): connectors, status, "
                            "backfill, reconcile.",
                       no_args_is_help=True)
console = Console()
ConnectorOpt = Annotated[str, typer.Option("--connector", help="the connector's name")]


@contextmanager
def _progress(label: str, unit: str) -> Iterator[Callable[[int, int], None]]:
    with Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TextColumn(unit), TimeElapsedColumn(),
                  console=console) as bar:
        task = bar.add_task(label, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


BodyArg = Annotated[str, typer.Argument(help="a JSON file with the API's body, or - for standard input")]


def _body(source: str) -> Any:
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
        return json.loads(text)
    except (OSError, json.JSONDecodeError) as exc:
        fail(f"cannot read the connector's JSON from {source}: {exc}")


def _validated(model: Any, body: Any) -> Any:
    try:
        return TypeAdapter(model).validate_python(body)
    except ValidationError as exc:
        fail("; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors()))


def _show(connector: Connector) -> None:
    secrets = [name for name in ("user_token", "app_token", "password", "client_secret", "webhook_secret")
               if getattr(connector, f"has_{name}", False)]
    typer.echo(f"{connector.name}: {connector.kind} at {connector.base_url}, "
               f"{'enabled' if connector.enabled else 'disabled'}, secrets set: {', '.join(secrets) or 'none'}")


@sync_app.command("list")
def list_connectors() -> None:
    """The connectors (never their secrets)."""
    settings = get_settings()
    migrate_db(settings, quiet=True)
    for connector in with_conn(settings, connectors.list_connectors):
        _show(connector)


@sync_app.command("add")
def add(body: BodyArg) -> None:
    """Create a connector from the body POST /api/v1/sync/connectors takes."""
    settings = get_settings()
    data = _validated(NewConnector, _body(body))
    migrate_db(settings, quiet=True)

    async def work(conn: db.Conn) -> Connector:
        actor = await connectors.principal(conn)
        return (await connectors.create(conn, data=data, settings=settings, actor_id=actor.id))[0]

    try:
        _show(with_conn(settings, work))
    except DeskmateError as exc:
        fail(exc.detail)


@sync_app.command("set")
def set_(name: Annotated[str, typer.Argument(help="the connector's name")], body: BodyArg) -> None:
    """Change a connector with the body PATCH /api/v1/sync/connectors/NAME takes (secrets left out stay)."""
    settings = get_settings()
    data = _validated(ConnectorPatch, _body(body))
    migrate_db(settings, quiet=True)
    try:
        _show(with_conn(settings, lambda conn: connectors.update(conn, name=name, data=data, settings=settings)))
    except DeskmateError as exc:
        fail(exc.detail)


@sync_app.command("remove")
def remove(name: Annotated[str, typer.Argument(help="the connector's name")]) -> None:
    """Delete a connector with its links, queue and conflicts (the external tickets stay where they are)."""
    settings = get_settings()
    migrate_db(settings, quiet=True)
    try:
        with_conn(settings, lambda conn: connectors.delete(conn, name=name))
    except DeskmateError as exc:
        fail(exc.detail)
    typer.echo(f"{name}: removed")


@sync_app.command("status")
def status(connector: Annotated[str | None, typer.Option("--connector", help="one connector (default: all)")] = None,
           ) -> None:
    """Per connector: queue depth, lag, failed items with the external error, last poll and error."""
    settings = get_settings()
    migrate_db(settings, quiet=True)

    async def work(conn: db.Conn) -> list[ConnectorStatus]:
        names = [connector] if connector else [c.name for c in await connectors.list_connectors(conn)]
        return [await service.status(conn, name=name) for name in names]

    for s in with_conn(settings, work):
        lag = f"{s.lag_s:.0f} s" if s.lag_s is not None else "-"
        polled = s.last_polled_at.isoformat(timespec="seconds") if s.last_polled_at else "never"
        typer.echo(f"{s.name}: {'enabled' if s.enabled else 'disabled'}, {s.queue_depth} waiting (lag {lag}), "
                   f"{len(s.failed)} failed, {s.linked_tickets} linked, last poll {polled}, "
                   f"last error: {s.last_error or '-'}")
        for item in s.failed:
            typer.echo(f"  failed #{item.id} {item.ticket_number} ({item.event_kind}): {item.last_error}")


@sync_app.command("backfill")
def backfill(connector: ConnectorOpt,
             dry_run: Annotated[bool, typer.Option("--dry-run", help="count what would be imported")] = False) -> None:
    """Import the connector's open external tickets that are not linked to a deskmate ticket yet."""
    settings = get_settings()
    migrate_db(settings, quiet=True)

    async def work(conn: db.Conn) -> bulk.Backfilled:
        with _progress("importing", "tickets") as update:
            return await bulk.backfill(conn, settings, name=connector, dry_run=dry_run, on_progress=update)

    try:
        result = with_conn(settings, work)
    except DeskmateError as exc:
        fail(exc.detail)
    for external_id, number in result.imported:
        typer.echo(f"{connector} {external_id} → {number}")
    verb = "would import" if dry_run else "imported"
    typer.echo(f"sync {connector}: {result.found} open unlinked tickets, {verb} "
               f"{result.found if dry_run else len(result.imported)}")


@sync_app.command("reconcile")
def reconcile(connector: ConnectorOpt,
              apply: Annotated[bool, typer.Option("--apply", help="write deskmate's values where they differ")] = False,
              ) -> None:
    """Compare the linked tickets' mapped fields on both sides and report the drift (exit 1 when any remains)."""
    settings = get_settings()
    migrate_db(settings, quiet=True)

    async def work(conn: db.Conn) -> list[bulk.Drift]:
        with _progress("comparing", "tickets") as update:
            return await bulk.reconcile(conn, settings, name=connector, apply=apply, on_progress=update)

    try:
        drift = with_conn(settings, work)
    except DeskmateError as exc:
        fail(exc.detail)
    table = Table("ticket", "external id", "field", "deskmate", "external")
    for d in drift:
        table.add_row(d.number, d.external_id, d.field, str(d.local), str(d.remote))
    if drift:
        console.print(table)
    typer.echo(f"sync {connector}: {len(drift)} fields differ" + (" (deskmate's values written)" if apply else ""))
    if drift and not apply:
        raise typer.Exit(1)
