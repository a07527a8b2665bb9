"""``deskmate workflows validate``: check the definitions without starting anything."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from api.cli_helpers import fail
from api.settings import get_settings
from api.workflows import catalog, software

workflows_app = typer.Typer(help="Auto-resolution workflows (docs/workflows.md).", no_args_is_help=True)


@workflows_app.command("validate")
def validate(
    directory: Annotated[Path | None, typer.Option("--dir", help="default: DESKMATE_WORKFLOWS_DIR")] = None,
) -> None:
    """Load and validate every definition (*.yml) and the software catalogue; list them, or every problem and exit 1."""
    where = directory or get_settings().workflows_dir
    try:
        loaded = catalog.load_dir(where)
        items = software.load(where / software.CATALOGUE)
    except catalog.DefinitionError as exc:
        fail(exc.detail.replace(" | ", "\n"))
    for item in loaded:
        typer.echo(f"{item.path.name}: {item.workflow.name} ok ({len(item.workflow.steps)} steps, "
                   f"hash {catalog.content_hash(item.workflow)[:12]})")
    typer.echo(f"{software.CATALOGUE}: {len(items)} items ok")
    if not loaded:
        fail(f"no workflow definitions in {where}")
