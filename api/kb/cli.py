"""``deskmate kb ingest|search|reembed|export-onnx`` and ``deskmate eval retrieval``."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Column, Table

import kb_index
from api import db
from api.cli_helpers import fail as _fail
from api.cli_helpers import migrate_db, run_async, with_conn
from api.kb import embedding, evaluation, intents
from api.settings import Settings, get_settings

kb_app = typer.Typer(help="The knowledge base: ingest articles, search them.", no_args_is_help=True)
console = Console()
T = TypeVar("T")


def _run(settings: Settings, work: Callable[[db.Conn], Awaitable[T]]) -> T:
    """Migrates, then runs ``work`` on one connection with the vector type registered."""
    migrate_db(settings, quiet=True)
    return with_conn(settings, work, vector=True)


def _kb_embedder(settings: Settings, model: str | None = None) -> kb_index.Embedder:
    try:
        return embedding.get_kb_embedder(settings, model)
    except ValueError as exc:
        _fail(str(exc))


@contextmanager
def _progress(label: str) -> Iterator[Callable[[int, int], None]]:
    with Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TextColumn("chunks"), TimeElapsedColumn(),
                  console=console, transient=False) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


@kb_app.command("ingest")
def ingest(
    path: Annotated[Path, typer.Argument(help="a directory of .md/.html/.txt articles", exists=True,
                                         file_okay=False)],
    prune: Annotated[bool, typer.Option(help="delete articles ingested earlier from files now gone")] = True,
) -> None:
    """Index a directory incrementally: unchanged articles are skipped, changed ones replaced."""
    settings = get_settings()
    try:
        articles = kb_index.load_dir(path)
    except kb_index.ArticleError as exc:
        _fail(str(exc))
    embedder = _kb_embedder(settings)

    async def work(conn: db.Conn) -> kb_index.IngestReport:
        with _progress("embedding") as update:
            return await kb_index.ingest(conn, embedder, articles, prune_under=path if prune else None,
                                         on_progress=update)

    try:
        report = _run(settings, work)
    except kb_index.IndexModelMismatch as exc:
        _fail(str(exc))
    counts = report.counts()
    typer.echo(f"kb: {len(articles)} articles in {path}: {counts['new']} new, {counts['updated']} updated, "
               f"{counts['unchanged']} unchanged, {counts['deleted']} deleted "
               f"({counts['chunks_embedded']} chunks embedded)")


@kb_app.command("search")
def search(
    query: Annotated[str, typer.Argument(help="the question")],
    k: Annotated[int, typer.Option("-k", help="articles to show")] = 5,
    category: Annotated[str | None, typer.Option(help="only this category")] = None,
    mode: Annotated[str, typer.Option(help="hybrid, vector or text")] = "hybrid",
    agent: Annotated[bool, typer.Option(help="include articles for agents")] = False,
) -> None:
    """Search the knowledge base as an employee (or an agent) would."""
    if mode not in ("hybrid", "vector", "text"):
        _fail("--mode must be hybrid, vector or text")
    settings = get_settings()
    embedder = _kb_embedder(settings)
    hits = _run(settings, lambda conn: kb_index.search(
        conn, query=query, embedder=embedder, k=k, category=category, mode=mode,  # type: ignore[arg-type]
        audiences=kb_index.AUDIENCES if agent else ("employee",)))
    if not hits:
        typer.echo("no results")
        return
    table = Table("#", "score", "sim", "article", "section", "snippet", show_lines=True)
    for n, h in enumerate(hits, start=1):
        table.add_row(str(n), f"{h.score:.4f}", f"{h.similarity:.2f}" if h.similarity is not None else "-",
                      f"{h.title}\n[dim]{h.article_id}[/dim]", " > ".join(h.heading_path), h.snippet)
    console.print(table)


@kb_app.command("reembed")
def reembed(
    model: Annotated[str | None, typer.Option(help="the model to move to: all-MiniLM-L6-v2 or a sentence-transformers "
                                              "directory (default DESKMATE_KB_EMBED_MODEL)")] = None,
    batch: Annotated[int, typer.Option(min=1, max=1024, help="chunks per committed batch")] = 64,
) -> None:
    """Re-embed every chunk with another model. The old vectors serve until all new ones are ready; then one
    transaction swaps them. Interrupted, it resumes where it stopped. Afterwards run the api and worker with
    DESKMATE_KB_EMBED_MODEL set to the same model."""
    settings = get_settings()
    embedder = _kb_embedder(settings, model)

    async def work(conn: db.Conn) -> kb_index.ReembedReport:
        with _progress("re-embedding") as update:
            return await kb_index.reembed(conn, embedder, batch=batch, on_progress=update)

    report = _run(settings, work)
    if not report.swapped:
        _fail(f"kb: chunks kept being written while re-embedding; {report.embedded} vectors of {report.model} are "
              "staged: run the command again")
    typer.echo(f"kb: {report.total} chunks now use {report.model} ({report.embedded} embedded in this run). "
               f"Set DESKMATE_KB_EMBED_MODEL={model or settings.kb_embed_model} for the api and the worker.")


@kb_app.command("export-onnx")
def export_onnx(
    model: Annotated[str | None, typer.Option(help="all-MiniLM-L6-v2 or a sentence-transformers directory "
                                              "(default DESKMATE_KB_EMBED_MODEL)")] = None,
    force: Annotated[bool, typer.Option(help="export even when an export of the same weights is there")] = False,
) -> None:
    """Export the embedding model to int8 ONNX under DESKMATE_KB_ONNX_DIR (``make model`` runs this at setup;
    nothing is downloaded). Does nothing when the export of these weights is there already."""
    settings = get_settings()
    try:
        model_id, path = kb_index.resolve_model(model or settings.kb_embed_model or None)
        out = settings.kb_onnx_dir / model_id
        fresh = force or not kb_index.OnnxEncoder.exported(path, out)
        file = kb_index.export_onnx(path, out, force=force)
    except (ValueError, OSError) as exc:
        _fail(f"kb: cannot export {model or settings.kb_embed_model} to ONNX: {exc}")
    typer.echo(f"kb: {model_id} {'exported to' if fresh else 'already exported:'} {file} "
               f"({file.stat().st_size / 1e6:.1f} MB)")


@kb_app.command("seed-demo", hidden=True)
def seed_demo() -> None:
    """Ingest the demo articles (DESKMATE_KB_DIR) the first time only. ``deskmate run`` runs this as a child process,
    so the embedding model is loaded only while it runs."""
    from api.dev import demo

    settings = get_settings()
    embedder = embedding.get_embedder(settings)
    report = with_conn(settings, lambda conn: demo.seed_kb(conn, kb_dir=settings.kb_dir, embedder=embedder),
                       vector=True)
    typer.echo("demo knowledge base: " + (f"{report.counts()['new']} articles loaded ({embedder.backend})" if report
                                          else "seeded before (kept as the admins left it)"))


def retrieval(
    articles: Annotated[Path, typer.Option(help="directory of articles", exists=True, file_okay=False)],
    queries: Annotated[Path, typer.Option(help='JSON lines: {"query": …, "relevant": [ids]}', exists=True,
                                          dir_okay=False)],
    negatives: Annotated[Path | None, typer.Option(help="JSON lines of questions the KB does not answer "
                                                   "(reports the answer thresholds)", exists=True,
                                                   dir_okay=False)] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="also write the report here")] = None,
    model: Annotated[list[str] | None, typer.Option(
        help="embedding model(s) to compare (repeat; default DESKMATE_KB_EMBED_MODEL)")] = None,
    intent_map: Annotated[Path | None, typer.Option(
        help="intent map for the intent-boost variants (default DESKMATE_KB_INTENTS_FILE)", exists=True,
        dir_okay=False)] = None,
    split_sections: Annotated[bool, typer.Option(
        help="index every top-level section as an article of its own (a larger KB of short answers)")] = False,
) -> None:
    """Retrieval quality and latency of every variant (vector, full text, the fusions, the intent boost) for each
    model, over all queries and per split (dev / held-out), on a separate index."""
    settings = get_settings()
    embedders = [_kb_embedder(settings, m) for m in model] if model else [_kb_embedder(settings)]
    try:
        boosts = intents.load(intent_map or settings.kb_intents_file)
    except intents.IntentMapError as exc:
        _fail(str(exc))

    async def go() -> dict[str, Any]:
        reports = []
        for embedder in embedders:
            with _progress(f"indexing ({embedder.model_id})") as update:
                reports.append(await evaluation.run(
                    db.database_url(settings), articles_dir=articles, queries_path=queries, negatives_path=negatives,
                    embedder=embedder, migrations_dir=settings.migrations_dir, on_progress=update, boosts=boosts,
                    split_sections=split_sections))
        return evaluation.merge(reports)

    try:
        report = run_async(go())
    except ValueError as exc:
        _fail(str(exc))
    _print_report(report)
    if json_out:
        json_out.write_text(json.dumps(report, indent=2) + "\n")
        typer.echo(f"report written to {json_out}")


def _print_report(report: dict[str, Any]) -> None:
    splits = report.get("splits", {})
    table = Table(Column("variant", no_wrap=True), "R@1", "R@5", "MRR", "nDCG@10",
                  f"dev R@5 ({splits.get('dev', 0)})", "dev MRR", f"held-out R@5 ({splits.get('heldout', 0)})",
                  "held-out MRR", "p50 ms", "embed p50",
                  title=f"{report['queries']} queries over {report['articles']} articles ({report['chunks']} chunks)")
    for mode, m in report["modes"].items():
        per_split = [f"{m[s][k]:.3f}" if s in m else "-" for s in ("dev", "heldout") for k in ("recall@5", "mrr")]
        table.add_row(mode, *(f"{m[k]:.3f}" for k in ("recall@1", "recall@5", "mrr", "ndcg@10")), *per_split,
                      f"{m['latency_ms']['p50']:.1f}", f"{m['query_embedding_ms']['p50']:.1f}")
    console.print(table)
    if "thresholds" in report:
        t = Table("similarity ≥", "answerable answered", "answered top-1 correct", "unanswerable refused",
                  title=f"answer threshold ({report['negatives']} unanswerable questions)")
        for row in report["thresholds"]:
            t.add_row(f"{row['min_similarity']:.2f}", f"{row['answerable_answered']:.3f}",
                      f"{row['answered_top1_correct']:.3f}", f"{row['unanswerable_refused']:.3f}")
        console.print(t)
