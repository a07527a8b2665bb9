"""``deskmate improve cluster|proposals|train|promote|status``: the closed loop from a shell."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer

from api.cli_helpers import fail, migrate_db, with_conn
from api.db import Conn
from api.errors import DeskmateError
from api.improve import bot_models, evaluation, proposals, service, tasks
from api.improve.models import ModelVersion
from api.kb import embedding
from api.log import configure as configure_logging
from api.settings import get_settings

T = TypeVar("T")
improve_app = typer.Typer(help="Improve the bot from failed conversations (docs/improving.md).", no_args_is_help=True)


def _run(work: Callable[[Conn], Awaitable[T]], *, vector: bool = False) -> T:
    settings = get_settings()
    migrate_db(settings, quiet=True)
    try:
        return with_conn(settings, work, vector=vector)
    except DeskmateError as exc:
        fail(exc.detail)


@improve_app.command("cluster")
def cluster() -> None:
    """Cluster the failed conversations since the last pass into proposals (the worker does it nightly)."""
    settings = get_settings()
    summary = _run(lambda conn: proposals.cluster(conn, settings, embedding.get_embedder(settings)), vector=True)
    typer.echo(f"{summary.failures} failed turns from {summary.since:%Y-%m-%d %H:%M} to {summary.until:%Y-%m-%d %H:%M}"
               f" -> {summary.clusters} clusters: new proposals {summary.proposals_new or '-'}, "
               f"merged into {summary.proposals_merged or '-'}")


@improve_app.command("proposals")
def list_proposals(
    status: Annotated[str | None, typer.Option(help="open, approved, rejected, in_model, not_promoted")] = "open",
    limit: Annotated[int, typer.Option(min=1, max=200)] = 30,
) -> None:
    """List proposals (approve them in the API: POST /api/v1/improve/proposals/{id}/approve)."""
    items, _ = _run(lambda conn: proposals.list_proposals(conn, status=status, limit=limit))
    for p in items:
        what = f"examples for {p.intent}" if p.kind == "examples" else "KB draft"
        reasons = ", ".join(f"{k} {v}" for k, v in p.reasons.items())
        typer.echo(f"#{p.id:<5} {p.status:<12} {what:<32} size {p.size:<4} ({reasons})  {p.title}")
        for example in (p.examples if p.kind == "examples" else p.texts)[:5]:
            typer.echo(f"         - {example}")


def _describe(m: ModelVersion) -> str:
    lines = [f"{m.version}  {m.status}  {m.examples} approved examples  trained in {m.train_s or 0:.0f} s"
             f"  against {m.baseline or '-'}", f"  {m.decision or m.error or ''}"]
    if m.comparison:
        lines.append(evaluation.table(m.comparison))
    if m.reload:
        lines += [f"  Rasa {url}: {what}" for url, what in m.reload.items()]
    return "\n".join(lines)


@improve_app.command("train")
def train(
    queue: Annotated[bool, typer.Option("--queue", help="queue it for the worker instead of training here")] = False,
) -> None:
    """Train a candidate on every approved example, compare it with the current model, promote it if not worse."""
    settings = get_settings()
    if queue:
        job = _run(lambda conn: tasks.queue_training(conn, requested_by=None))
        typer.echo(f"training queued (job {job}); follow it with: deskmate improve status")
        return
    configure_logging("INFO", json_lines=False)
    record = _run(lambda conn: service.train_candidate(conn, settings))
    typer.echo(_describe(record))
    if record.status == "failed":
        raise typer.Exit(1)


@improve_app.command("promote")
def promote(
    version: Annotated[str, typer.Argument(help="the model version (deskmate improve status)")],
    force: Annotated[bool, typer.Option(help="promote although the comparison found it worse")] = False,
) -> None:
    """Serve this version (also a rollback to an earlier one) and hot-load it into Rasa."""
    settings = get_settings()
    typer.echo(_describe(_run(lambda conn: service.promote(conn, settings, version=version, force=force))))


@improve_app.command("status")
def status(limit: Annotated[int, typer.Option(min=1, max=100)] = 5) -> None:
    """The model Rasa should serve, and the latest candidates with their comparison tables."""
    settings = get_settings()
    typer.echo(f"current model: {bot_models.current_model_path(settings)}")

    async def work(conn: Conn) -> list[ModelVersion]:
        return await service.list_models(conn, limit=limit)

    for m in _run(work):
        typer.echo("")
        typer.echo(_describe(m))
